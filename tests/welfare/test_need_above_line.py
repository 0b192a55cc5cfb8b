"""Declared income above the poverty line, yet the model sees need: a human looks."""

from __future__ import annotations

import pytest

from tests.welfare.assess_helpers import inputs
from welfare.assess import recommend
from welfare.statements import Code

ABOVE_LINE = 60_000  # per-capita KZT, above the configured poverty line


def _codes(doubts) -> list[Code]:
    return [d.code for d in doubts]


def test_above_the_line_with_a_model_level_of_need_goes_to_review(welfare_config, taxonomy):
    given = inputs(welfare_config, taxonomy, 0.02, per_capita_income_kzt=ABOVE_LINE)
    assert given["rules"].income_test is False
    band, doubts = recommend(**given, level=2, model_level=2)
    assert band == "needs_review"
    assert _codes(doubts) == [Code.DOUBT_ABOVE_LINE_LEVEL_IN_NEED]
    assert doubts[0].params == {"level": 2}
    assert "level 2" in doubts[0].text
    # Level 3 and up: the income test decides, as before.
    assert recommend(**given, level=3, model_level=3) == ("not_eligible", [])


def test_the_models_own_level_counts_not_a_rule_set_one(welfare_config, taxonomy):
    given = inputs(welfare_config, taxonomy, 0.02, per_capita_income_kzt=ABOVE_LINE)
    _, doubts = recommend(**given, level=6, model_level=1)
    assert Code.DOUBT_ABOVE_LINE_LEVEL_IN_NEED in _codes(doubts)
    _, doubts = recommend(**given, level=1, model_level=None)  # no separate model level
    assert Code.DOUBT_ABOVE_LINE_LEVEL_IN_NEED in _codes(doubts)


@pytest.mark.parametrize("income", [10_000, None])
def test_no_such_doubt_under_the_line_or_when_income_is_unknown(welfare_config, taxonomy, income):
    given = inputs(welfare_config, taxonomy, 0.9, per_capita_income_kzt=income)
    _, doubts = recommend(**given, level=1, model_level=1)
    assert Code.DOUBT_ABOVE_LINE_LEVEL_IN_NEED not in _codes(doubts)


def test_the_check_can_be_turned_off_in_config(welfare_config, taxonomy):
    given = inputs(welfare_config, taxonomy, 0.02, per_capita_income_kzt=ABOVE_LINE)
    off = welfare_config.recommendation.model_copy(
        update={"review_if_not_eligible_and_level_at_most": None}
    )
    assert recommend(**{**given, "config": off}, level=1, model_level=1) == ("not_eligible", [])
