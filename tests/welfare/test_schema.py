"""FamilyRecord validation: clear messages, explicit missing values, nothing filled in."""

from __future__ import annotations

import math

import pytest

from tests.welfare.families_helpers import family
from welfare.schema import FamilyRecordError, parse_family, record_from_row


@pytest.fixture
def config(welfare_config):
    return welfare_config


def test_valid_record_keeps_every_value(config):
    record = parse_family(family(config), config=config)
    assert record.missing == []
    assert record.number("per_capita_income_kzt") == 20_000
    assert record.criteria["housing_tenure"] == "owned"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"per_capita_income_kzt": -5}, "per_capita_income_kzt cannot be negative"),
        ({"members_total": 0}, "members_total must be at least 1"),
        ({"members_working": 5}, r"members_working \(5\) is more than members_total \(3\)"),
        ({"children_under_18": 4}, r"children_under_18 \(4\) is more than members_total"),
        ({"vehicles_owned": 1.5}, "vehicles_owned must be a whole number"),
        ({"has_legal_entity": 2}, "has_legal_entity: a yes/no flag must be 0 or 1"),
        ({"housing_tenure": "castle"}, "housing_tenure: 'castle' is not one of"),
        ({"members_insured_share": 1.5}, "members_insured_share must be between 0 and 1"),
        ({"per_capita_income_kzt": "lots"}, "expected a number"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(config, change, message):
    with pytest.raises(FamilyRecordError, match=message) as caught:
        parse_family(family(config, **change), config=config)
    assert caught.value.code == "family_record_invalid"
    assert "family f1" in caught.value.message


def test_unknown_region_lists_the_known_ones(config):
    data = family(config) | {"region": "atlantis"}
    with pytest.raises(FamilyRecordError, match=r"unknown region 'atlantis'; expected one of \["):
        parse_family(data, config=config)


def test_absent_and_unknown_criteria_are_refused_not_filled(config):
    data = family(config)
    del data["criteria"]["bank_deposits_kzt"]
    data["criteria"]["yacht_length_m"] = 30
    with pytest.raises(FamilyRecordError) as caught:
        parse_family(data, config=config)
    assert "bank_deposits_kzt is absent; give its value, or null" in caught.value.message
    assert "unknown criterion 'yacht_length_m'" in caught.value.message


def test_missing_values_are_explicit_and_listed(config):
    record = parse_family(
        family(config, bank_deposits_kzt=None, housing_tenure=None), config=config
    )
    assert record.missing == ["housing_tenure", "bank_deposits_kzt"]  # config order
    assert record.number("bank_deposits_kzt") is None


def test_table_row_empty_cells_become_missing(config):
    row = family(config)["criteria"] | {
        "family_id": "r1",
        "region": config.regions[1],
        "settlement": "rural",
        "head_gender": "male",
        "bank_deposits_kzt": math.nan,
        "housing_tenure": "",
    }
    record = record_from_row(row, config=config)
    assert record.missing == ["housing_tenure", "bank_deposits_kzt"]  # config order
    assert record.settlement == "rural"


def test_table_row_without_a_column_is_refused(config):
    row = family(config)["criteria"] | {"family_id": "r1", "region": config.regions[0]}
    del row["vehicles_owned"]
    with pytest.raises(FamilyRecordError, match=r"columns \['vehicles_owned'\] are absent"):
        record_from_row(row, config=config)


PERSON_COUNTS = {
    "members_with_disability",
    "members_chronically_ill",
    "children_out_of_school",
    "members_working",
    "children_under_18",
    "pensioners",
    "unemployed_able_bodied",
    "members_in_training",
    "registered_job_seekers",
}


def test_every_count_of_members_is_within_the_family_in_the_config(config):
    within = {c.name for c in config.criteria if "members_total" in c.within}
    assert within == PERSON_COUNTS
    assert config.criterion("children_out_of_school").within == [
        "children_under_18",
        "members_total",
    ]


@pytest.mark.parametrize("name", sorted(PERSON_COUNTS))
def test_no_count_of_members_may_exceed_the_family(config, name):
    small = {"members_total": 2, "members_working": 0, "children_under_18": 2}
    with pytest.raises(FamilyRecordError, match=rf"{name} \(3\) is more than members_total \(2\)"):
        parse_family(family(config, **(small | {name: 3})), config=config)
    parse_family(family(config, **(small | {name: 2})), config=config)  # the whole family: fine


def test_children_out_of_school_are_children(config):
    with pytest.raises(
        FamilyRecordError,
        match=r"children_out_of_school \(3\) is more than children_under_18 \(1\); check both",
    ):
        parse_family(
            family(config, members_total=5, children_under_18=1, children_out_of_school=3),
            config=config,
        )
    unknown = family(config, members_total=5, children_under_18=None, children_out_of_school=3)
    assert parse_family(unknown, config=config).number("children_out_of_school") == 3


def test_working_and_unemployed_together_cannot_exceed_the_family(config):
    message = (
        r"members_working \(2\) \+ unemployed_able_bodied \(2\) = 4 is more than "
        r"members_total \(3\), yet no one is in two of these"
    )
    with pytest.raises(FamilyRecordError, match=message):
        parse_family(
            family(config, members_total=3, members_working=2, unemployed_able_bodied=2),
            config=config,
        )
    fits = family(config, members_total=3, members_working=2, unemployed_able_bodied=1)
    assert parse_family(fits, config=config).number("unemployed_able_bodied") == 1
    one_missing = family(config, members_total=3, members_working=3, unemployed_able_bodied=None)
    assert parse_family(one_missing, config=config).missing == ["unemployed_able_bodied"]


def test_other_counts_may_overlap(config):
    """A pensioner may work, a child may receive a pension: only disjoint groups are summed."""
    record = family(config, members_total=2, members_working=2, pensioners=2, children_under_18=1)
    parse_family(record, config=config)


@pytest.mark.parametrize(
    ("name", "value", "unit"),
    [
        ("dwellings_owned", True, "dwellings"),
        ("members_total", True, "persons"),
        ("members_working", False, "persons"),
        ("per_capita_income_kzt", True, "KZT per member per month"),
        ("head_education_level", True, "0 none"),
    ],
)
def test_a_boolean_is_not_a_number(config, name, value, unit):
    word = str(value).lower()
    message = rf"{name}: expected a number \({unit}.*got {word}; true/false is only for yes/no"
    with pytest.raises(FamilyRecordError, match=message):
        parse_family(family(config, **{name: value}), config=config)
    row = _row(config, **{name: value})
    with pytest.raises(FamilyRecordError, match=message):
        record_from_row(row, config=config)


def _row(config, **criteria):
    """One table row: the base family's criteria and context columns."""
    context = {"family_id": "r1", "region": config.regions[0], "settlement": "urban"}
    return family(config)["criteria"] | context | {"head_gender": "male", **criteria}


def test_a_boolean_flag_is_still_a_flag(config):
    record = parse_family(family(config, has_legal_entity=True), config=config)
    assert record.criteria["has_legal_entity"] == 1.0
    row = _row(config, informal_employment_signs=True)
    assert record_from_row(row, config=config).criteria["informal_employment_signs"] == 1.0


@pytest.mark.parametrize("family_id", ["   ", " f1", "f1 "])
def test_a_blank_family_id_or_one_with_spaces_around_is_refused(config, family_id):
    data = {**family(config), "family_id": family_id}
    with pytest.raises(FamilyRecordError, match="blank or has spaces around it"):
        parse_family(data, config=config)
