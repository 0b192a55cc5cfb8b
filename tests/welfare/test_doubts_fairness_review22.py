"""Review 22 of welfare/doubts.py: a family under the poverty line is never `not_eligible`,
even where the configured cut for "the model says eligible" sits on the not_eligible band."""

from __future__ import annotations

from welfare.statements import Code

from .test_assess import _with_recommendation, doubts_of


def test_under_the_line_at_the_not_eligible_band_edge_goes_to_review(tmp_path, taxonomy):
    # The config accepts a cut equal to the not_eligible band's top (between the bands,
    # inclusive). P(eligible) right there is both "the model says eligible" and in the
    # not_eligible band: the family under the line must still reach a person.
    config = _with_recommendation(tmp_path, model_eligible_cut=0.10)
    low = config.recommendation.not_eligible_max_probability
    assert low == config.recommendation.model_eligible_cut
    outcome, doubts = doubts_of(config, taxonomy, low)
    assert outcome == "needs_review"
    assert [d.code for d in doubts] == [Code.DOUBT_UNDER_LINE_MODEL_DISAGREES]
    # Above the line the same probability is an agreement: not_eligible, no doubt.
    assert doubts_of(config, taxonomy, low, per_capita_income_kzt=90_000) == ("not_eligible", [])
