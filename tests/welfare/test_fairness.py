"""Fairness figures against a hand-computed fixture."""

from __future__ import annotations

import pandas as pd
import pytest

from welfare.fairness import fairness_table

# Group a: eligible rows 0,1,2; only row 0 offered eligible -> FNR 2/3; row 1 excluded -> 1/3.
# Group b: eligible rows 4,5,7; row 7 not offered (excluded) -> FNR 1/3, exclusion 1/3.
# Level accuracy: a 3/4 (row 3 wrong), b 3/4 (row 5 wrong).
FIXTURE = pd.DataFrame(
    {
        "asp_eligible": [True, True, True, False, True, True, False, True],
        "asp": [
            "eligible",
            "not_eligible",
            "needs_review",
            "eligible",
            "eligible",
            "eligible",
            "not_eligible",
            "not_eligible",
        ],
        "level": [1, 2, 3, 4, 1, 2, 3, 4],
        "level_pred": [1, 2, 3, 3, 1, 1, 3, 4],
        "region": ["a", "a", "a", "a", "b", "b", "b", "b"],
    }
)


def figures():
    return {f.metric: f for f in fairness_table(FIXTURE, groupings=["region"], n_boot=40, seed=0)}


def test_per_group_values_match_hand_computation():
    result = figures()
    fnr = {g.group: g.value for g in result["fnr"].groups}
    assert fnr == pytest.approx({"a": 2 / 3, "b": 1 / 3})
    exclusion = {g.group: g.value for g in result["exclusion"].groups}
    assert exclusion == pytest.approx({"a": 1 / 3, "b": 1 / 3})
    accuracy = {g.group: g.value for g in result["level_accuracy"].groups}
    assert accuracy == pytest.approx({"a": 0.75, "b": 0.75})
    assert {g.group: g.n for g in result["fnr"].groups} == {"a": 4, "b": 4}


def test_largest_gap_and_intervals():
    result = figures()
    assert result["fnr"].largest_gap == pytest.approx(1 / 3)
    assert result["exclusion"].largest_gap == pytest.approx(0.0)
    for figure in result.values():
        assert figure.gap_ci_low <= figure.gap_ci_high
        for g in figure.groups:
            assert 0.0 <= g.ci_low <= g.ci_high <= 1.0
    assert result["fnr"].to_dict()["groups"][0]["group"] == "a"
