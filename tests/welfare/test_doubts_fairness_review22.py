"""Review 22 of welfare/doubts.py: a family under the poverty line is never `not_eligible`,
even where the cut for "the model says eligible" sits on the not_eligible band. configs/
welfare.yaml refuses such a cut (test_criteria_cut.py); a config built in code skips that
check, and the recommendation must still send the family to a person."""

from __future__ import annotations

from tests.welfare.assess_helpers import doubts_of
from welfare.statements import Code


def test_under_the_line_at_the_not_eligible_band_edge_goes_to_review(welfare_config, taxonomy):
    low = welfare_config.recommendation.not_eligible_max_probability
    recommendation = welfare_config.recommendation.model_copy(update={"model_eligible_cut": low})
    config = welfare_config.model_copy(update={"recommendation": recommendation})  # unchecked
    outcome, doubts = doubts_of(config, taxonomy, low)
    assert outcome == "needs_review"
    assert [d.code for d in doubts] == [Code.DOUBT_UNDER_LINE_MODEL_DISAGREES]
    # Above the line the same probability is an agreement: not_eligible, no doubt.
    assert doubts_of(config, taxonomy, low, per_capita_income_kzt=90_000) == ("not_eligible", [])
