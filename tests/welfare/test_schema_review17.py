"""FamilyRecord review: every problem of a record is reported at once, each naming its field
and what to give (test_schema.py has the single-problem cases)."""

from __future__ import annotations

import pytest

from tests.welfare.families_helpers import family
from welfare.schema import FamilyRecordError, parse_family


@pytest.fixture
def config(welfare_config):
    return welfare_config


def _refusal(data, config) -> str:
    with pytest.raises(FamilyRecordError) as caught:
        parse_family(data, config=config)
    return caught.value.message


def test_a_boolean_count_is_reported_with_the_records_other_problems(config):
    data = family(config, members_total=True, vehicles_owned=1.5, yacht_length_m=30)
    message = _refusal(data | {"region": "atlantis"}, config)
    assert "members_total: expected a number (persons), got true" in message
    assert "vehicles_owned must be a whole number" in message
    assert "unknown criterion 'yacht_length_m'" in message
    assert "unknown region 'atlantis'" in message


def test_counts_that_contradict_are_reported_beside_a_bad_value(config):
    data = family(config, members_with_disability=9, bank_deposits_kzt=-3)
    message = _refusal(data, config)
    assert "bank_deposits_kzt cannot be negative" in message
    assert r"members_with_disability (9) is more than members_total (3)" in message


def test_a_count_refused_on_its_own_is_not_weighed_against_the_others(config):
    """members_total 0 is refused once; the counts are not also said to exceed it."""
    message = _refusal(family(config, members_total=0, members_working=1), config)
    assert "members_total must be at least 1" in message
    assert "more than members_total" not in message


def test_a_boolean_category_lists_its_categories_not_a_number(config):
    message = _refusal(family(config, housing_tenure=True), config)
    assert "housing_tenure: true is not one of ['owned'" in message
    assert "expected a number" not in message


@pytest.mark.parametrize("text", ["yes", "true", "1"])
def test_a_flag_given_as_text_says_what_a_flag_takes(config, text):
    message = _refusal(family(config, has_legal_entity=text), config)
    assert f"has_legal_entity: a yes/no flag is true/false or 1/0; got {text!r}" in message


@pytest.mark.parametrize("value", [[3], {"n": 3}, 10**400], ids=["list", "object", "1e400"])
def test_a_value_of_no_criterion_type_names_the_criterion_and_what_to_give(config, value):
    message = _refusal(family(config, members_total=value), config)
    assert "criteria.members_total: expected a number (persons), or null to mark it missing" in (
        message
    )
    assert "valid string" not in message


def test_an_unknown_or_absent_field_says_what_a_record_holds(config):
    data = family(config) | {"note": "x"}
    del data["region"]
    message = _refusal(data, config)
    assert "unknown field 'note'; a family record has family_id, region, settlement" in message
    assert "region is absent; give it" in message
