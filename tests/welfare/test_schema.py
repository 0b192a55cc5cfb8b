"""FamilyRecord validation: clear messages, explicit missing values, nothing filled in."""

from __future__ import annotations

import math

import pytest

from welfare.schema import FamilyRecordError, parse_family, record_from_row

from .conftest import family


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
