"""Hard rules on hand-made families: each level-6 criterion, any/all, the income test."""

from __future__ import annotations

import pytest

from tests.welfare.families_helpers import family
from welfare.rules import INCOME_TEST, LEVEL6, evaluate_rules
from welfare.schema import parse_family
from welfare.statements import Code


def outcome(config, combine, **criteria):
    rules = config.rules.model_copy(
        update={"level6": config.rules.level6.model_copy(update={"combine": combine})}
    )
    record = parse_family(family(config, **criteria), config=config)
    return evaluate_rules(record, rules=rules, thresholds=config.thresholds)


@pytest.mark.parametrize(
    "criteria",
    [
        {"dwellings_owned": 2},
        {"vehicles_owned": 3},
        {"has_legal_entity": 1},
        {"per_capita_income_kzt": 4 * 46228 + 1},
    ],
)
def test_each_level6_criterion_fires_alone_under_any(welfare_config, criteria):
    result = outcome(welfare_config, "any", **criteria)
    assert result.level6 is True
    assert LEVEL6 in result.fired
    name = next(iter(criteria))
    assert f"{LEVEL6}.{name}" in result.fired


def test_level6_below_every_threshold_does_not_fire(welfare_config):
    result = outcome(
        welfare_config,
        "any",
        dwellings_owned=1,
        vehicles_owned=1,
        per_capita_income_kzt=4 * 46228 - 1,
    )
    assert result.level6 is False
    assert LEVEL6 not in result.fired


def test_all_needs_every_criterion(welfare_config):
    some = outcome(welfare_config, "all", dwellings_owned=2, vehicles_owned=2, has_legal_entity=1)
    assert some.level6 is False
    every = outcome(
        welfare_config,
        "all",
        dwellings_owned=2,
        vehicles_owned=2,
        has_legal_entity=1,
        per_capita_income_kzt=200_000,
    )
    assert every.level6 is True


def test_missing_input_makes_level6_not_checkable_unless_another_fires(welfare_config):
    unknown = outcome(welfare_config, "any", vehicles_owned=None)
    assert unknown.level6 is None
    assert f"{LEVEL6}.vehicles_owned" in unknown.not_checkable
    fired = outcome(welfare_config, "any", vehicles_owned=None, dwellings_owned=3)
    assert fired.level6 is True


def test_income_test_under_at_and_missing(welfare_config):
    line = welfare_config.thresholds.poverty_line_kzt
    assert outcome(welfare_config, "any", per_capita_income_kzt=line - 1).income_test is True
    at = outcome(welfare_config, "any", per_capita_income_kzt=line)
    assert at.income_test is False
    assert INCOME_TEST not in at.fired
    missing = outcome(welfare_config, "any", per_capita_income_kzt=None)
    assert missing.income_test is None
    assert INCOME_TEST in missing.not_checkable


def test_rule_texts_carry_year_and_figures(welfare_config):
    result = outcome(welfare_config, "any", per_capita_income_kzt=10_000)
    text = next(c.text for c in result.checks if c.name == INCOME_TEST)
    assert "10,000 KZT is under the poverty line 32,360 KZT (2025)" in text


@pytest.mark.parametrize("income", [10_000, 4 * 46228 + 1, None])
def test_threshold_checks_carry_the_thresholds_year_and_source(welfare_config, income):
    """Thresholds are configuration 'with their year and source': both reach the check."""
    t = welfare_config.thresholds
    sources = {"poverty_line": "Line source, 2025.", "subsistence_minimum": "SM source, 2025."}
    thresholds = t.model_copy(update={f"{k}_source": v for k, v in sources.items()})
    record = parse_family(
        family(welfare_config, per_capita_income_kzt=income), config=welfare_config
    )
    result = evaluate_rules(record, rules=welfare_config.rules, thresholds=thresholds)
    high = _check(result, f"{LEVEL6}.per_capita_income_kzt")
    assert high.params["year"] == t.year
    assert high.params["subsistence_minimum_source"] == sources["subsistence_minimum"]
    assert sources["subsistence_minimum"] not in high.text  # long English notes: params only
    assert high.source == welfare_config.rules.level6.source  # the rule's, not the threshold's
    income_test = _check(result, INCOME_TEST)
    if income is None:  # no figure compared, no threshold named
        assert income_test.params == {}
        return
    assert income_test.params["year"] == t.year
    assert income_test.params["poverty_line_source"] == sources["poverty_line"]
    assert f"({t.year})" in income_test.text and sources["poverty_line"] not in income_test.text
    assert income_test.source == welfare_config.rules.asp_income_test.source


def test_default_combination_is_all(welfare_config):
    assert welfare_config.rules.level6.combine == "all"
    assert outcome(welfare_config, "all", vehicles_owned=2).level6 is False


def _check(result, name):
    return next(c for c in result.checks if c.name == name)


def test_each_check_carries_its_code_and_figures(welfare_config):
    t = welfare_config.thresholds
    result = outcome(
        welfare_config,
        "any",
        dwellings_owned=3,
        vehicles_owned=None,
        has_legal_entity=0,
        per_capita_income_kzt=10_000,
    )
    dwellings = _check(result, f"{LEVEL6}.dwellings_owned")
    assert (dwellings.code, dwellings.params) == (
        Code.RULE_DWELLINGS_MET,
        {"minimum": welfare_config.rules.level6.min_dwellings, "value": 3.0},
    )
    vehicles = _check(result, f"{LEVEL6}.vehicles_owned")
    assert vehicles.code == Code.RULE_VEHICLES_UNKNOWN and "value" not in vehicles.params
    assert _check(result, f"{LEVEL6}.has_legal_entity").code == Code.RULE_LEGAL_ENTITY_NOT_MET
    high = _check(result, f"{LEVEL6}.per_capita_income_kzt")
    assert (high.code, high.params) == (
        Code.RULE_HIGH_INCOME_NOT_MET,
        {
            "multiple": welfare_config.rules.level6.min_income_subsistence_minimums,
            "subsistence_minimum_kzt": t.subsistence_minimum_kzt,
            "year": t.year,
            "subsistence_minimum_source": t.subsistence_minimum_source,
            "value": 10_000.0,
        },
    )
    summary = _check(result, LEVEL6)
    assert (summary.code, summary.params) == (
        Code.RULE_LEVEL6_FIRED,
        {"combine": "any", "met": ["dwellings_owned"]},
    )
    income = _check(result, INCOME_TEST)
    assert (income.code, income.params) == (
        Code.RULE_INCOME_UNDER_LINE,
        {
            "income_kzt": 10_000.0,
            "poverty_line_kzt": t.poverty_line_kzt,
            "year": t.year,
            "poverty_line_source": t.poverty_line_source,
        },
    )
    assert income.to_dict()["code"] == "rule.income_test.under_line"


def test_codes_follow_the_outcome_of_each_check(welfare_config):
    line = welfare_config.thresholds.poverty_line_kzt
    at = outcome(welfare_config, "all", per_capita_income_kzt=line, vehicles_owned=2)
    assert _check(at, INCOME_TEST).code == Code.RULE_INCOME_AT_OR_ABOVE_LINE
    assert _check(at, f"{LEVEL6}.vehicles_owned").code == Code.RULE_VEHICLES_MET
    assert (_check(at, LEVEL6).code, _check(at, LEVEL6).params["met"]) == (
        Code.RULE_LEVEL6_NOT_FIRED,
        ["vehicles_owned"],
    )
    missing = outcome(welfare_config, "all", per_capita_income_kzt=None, dwellings_owned=2,
                      vehicles_owned=2, has_legal_entity=1)  # fmt: skip
    assert (_check(missing, INCOME_TEST).code, _check(missing, INCOME_TEST).params) == (
        Code.RULE_INCOME_UNKNOWN,
        {},
    )
    assert _check(missing, LEVEL6).code == Code.RULE_LEVEL6_UNKNOWN
    assert _check(missing, f"{LEVEL6}.per_capita_income_kzt").code == (
        Code.RULE_HIGH_INCOME_UNKNOWN
    )


def test_level6_income_criterion_is_strictly_above_the_multiple(welfare_config):
    """'Income above 4 subsistence minimums': exactly 4 is not met, one tenge more is."""
    rule, thresholds = welfare_config.rules.level6, welfare_config.thresholds
    floor = rule.min_income_subsistence_minimums * thresholds.subsistence_minimum_kzt
    check = f"{LEVEL6}.per_capita_income_kzt"
    rich = {"dwellings_owned": 2, "vehicles_owned": 2, "has_legal_entity": 1}
    at = outcome(welfare_config, "all", per_capita_income_kzt=floor, **rich)
    assert _check(at, check).fired is False
    assert _check(at, check).code == Code.RULE_HIGH_INCOME_NOT_MET
    assert at.level6 is False
    above = outcome(welfare_config, "all", per_capita_income_kzt=floor + 1, **rich)
    assert _check(above, check).fired is True
    assert above.level6 is True
    assert _check(above, check).text.startswith(
        f"per-capita income above {rule.min_income_subsistence_minimums:g} subsistence minimums"
    )
    assert outcome(welfare_config, "any", per_capita_income_kzt=floor).level6 is False
    assert outcome(welfare_config, "any", per_capita_income_kzt=floor + 1).level6 is True


def test_count_criteria_are_met_at_their_minimum(welfare_config):
    rule = welfare_config.rules.level6
    at = outcome(welfare_config, "any", dwellings_owned=rule.min_dwellings)
    assert _check(at, f"{LEVEL6}.dwellings_owned").fired is True
    under = outcome(welfare_config, "any", vehicles_owned=rule.min_vehicles - 1)
    assert _check(under, f"{LEVEL6}.vehicles_owned").fired is False


@pytest.mark.parametrize(("offset", "under"), [(-1, True), (0, False), (1, False)])
def test_income_test_is_strictly_under_the_poverty_line(welfare_config, offset, under):
    """ASP: per-capita income *under* the poverty line; exactly at the line is not under."""
    line = welfare_config.thresholds.poverty_line_kzt
    result = outcome(welfare_config, "all", per_capita_income_kzt=line + offset)
    assert result.income_test is under
    check = _check(result, INCOME_TEST)
    assert check.code == (
        Code.RULE_INCOME_UNDER_LINE if under else Code.RULE_INCOME_AT_OR_ABOVE_LINE
    )
    assert check.params["poverty_line_kzt"] == line
    assert check.params["income_kzt"] == line + offset
