"""What a commission reads says what the inputs say: the model's level where a doubt names the
model, figures at a threshold that do not contradict their verdict, yes/no facts as yes or no."""

from __future__ import annotations

import pytest

from tests.welfare.assess_helpers import inputs
from tests.welfare.families_helpers import family
from welfare.assess import recommend
from welfare.explain import top_reasons
from welfare.rules import INCOME_TEST, LEVEL6, evaluate_rules
from welfare.schema import parse_family
from welfare.statements import Code

RICH = {"dwellings_owned": 2, "vehicles_owned": 2, "has_legal_entity": 1}


def _levels_named(doubts, *codes):
    return [d.params["level"] for d in doubts if d.code in codes]


def test_a_doubt_about_the_models_level_names_the_models_not_the_rules(welfare_config, taxonomy):
    """The level-6 rule set level 6; the model says eligible at level 2. Its two estimates agree,
    so there is no "the model ... places it at level 6" doubt; the family still goes to review."""
    high = 4 * welfare_config.thresholds.subsistence_minimum_kzt + 1
    given = inputs(welfare_config, taxonomy, 0.6, per_capita_income_kzt=high, **RICH)
    assert given["rules"].level6 is True and given["rules"].income_test is False
    band, doubts = recommend(**given, level=6, model_level=2)
    assert band == "needs_review"
    assert Code.DOUBT_MODEL_ELIGIBLE_HIGH_LEVEL not in {d.code for d in doubts}
    assert Code.DOUBT_RULE_OVERRIDES_MODEL_LEVEL in {d.code for d in doubts}
    # The model itself at a high level: the doubt names the model's level.
    _, doubts = recommend(**given, level=6, model_level=5)
    assert _levels_named(doubts, Code.DOUBT_MODEL_ELIGIBLE_HIGH_LEVEL) == [5]


def test_hidden_income_doubt_names_the_models_level_under_any(welfare_config, taxonomy):
    """`combine: any`: two dwellings fire the rule on a family under the line. Possible hidden
    income is what the model sees (its level), never the level the rule set."""
    rules = welfare_config.rules.model_copy(
        update={"level6": welfare_config.rules.level6.model_copy(update={"combine": "any"})}
    )
    given = inputs(welfare_config, taxonomy, 0.9, dwellings_owned=2)
    record = parse_family(family(welfare_config, dwellings_owned=2), config=welfare_config)
    given["rules"] = evaluate_rules(record, rules=rules, thresholds=welfare_config.thresholds)
    assert given["rules"].level6 is True and given["rules"].income_test is True
    band, doubts = recommend(**given, level=6, model_level=2)
    assert band == "needs_review"
    codes = {d.code for d in doubts}
    assert Code.DOUBT_HIDDEN_INCOME not in codes
    assert Code.DOUBT_LEVEL6_IN_NEED in codes
    _, doubts = recommend(**given, level=6, model_level=4)
    assert _levels_named(doubts, Code.DOUBT_HIDDEN_INCOME) == [4]
    assert "level 4" in next(d.text for d in doubts if d.code == Code.DOUBT_HIDDEN_INCOME)


def _check(config, name, **criteria):
    record = parse_family(family(config, **criteria), config=config)
    result = evaluate_rules(record, rules=config.rules, thresholds=config.thresholds)
    return next(c for c in result.checks if c.name == name)


@pytest.mark.parametrize("offset", [-0.4, -0.5])
def test_an_income_just_under_the_line_is_not_shown_as_the_line(welfare_config, offset):
    """32,359.6 KZT is under the line: its text must not read "32,360 KZT is under ... 32,360"."""
    line = welfare_config.thresholds.poverty_line_kzt
    check = _check(welfare_config, INCOME_TEST, per_capita_income_kzt=line + offset)
    assert check.fired is True
    income = f"{line + offset:,.2f}".rstrip("0").rstrip(".")
    assert f"income {income} KZT is under the poverty line 32,360 KZT (2025)" in check.text
    # Whole figures read as before.
    whole = _check(welfare_config, INCOME_TEST, per_capita_income_kzt=line)
    assert "income 32,360 KZT is at or above the poverty line 32,360 KZT" in whole.text


def test_a_level6_income_just_above_the_floor_shows_its_own_figure(welfare_config):
    floor = 4 * welfare_config.thresholds.subsistence_minimum_kzt
    check = _check(welfare_config, f"{LEVEL6}.per_capita_income_kzt",
                   per_capita_income_kzt=floor + 0.4)  # fmt: skip
    assert check.fired is True
    assert check.text.endswith("yes (value 184,912.4)")
    at = _check(welfare_config, f"{LEVEL6}.per_capita_income_kzt", per_capita_income_kzt=floor)
    assert at.fired is False and at.text.endswith("no (value 184,912)")


def test_a_yes_no_reason_reads_yes_or_no_in_its_sentence(trained, family_data):
    """The sentence the API keeps says what the page says for a yes/no fact: yes or no."""
    forest, space = trained["rf_fused"], family_data.space
    row = family_data.features.iloc[[702]].reset_index(drop=True)
    reasons = top_reasons(forest, row, space=space, target="asp", k=len(forest.features))
    yes_no = [r for r in reasons if isinstance(r.params["value"], bool)]
    assert yes_no  # the case under test
    for reason in yes_no:
        shown = "yes" if reason.params["value"] else "no"
        assert f": {shown} — points" in reason.text, reason.text
