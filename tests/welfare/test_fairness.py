"""Fairness figures against a hand-computed fixture."""

from __future__ import annotations

import pandas as pd
import pytest

from welfare.fairness import fairness_table
from welfare.fairness_report import fairness_lines

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


def figures(frame=FIXTURE, min_families=1):
    return {f.metric: f for f in table(frame, min_families)}


def table(frame, min_families):
    return fairness_table(frame, groupings=["region"], n_boot=20, seed=0, min_families=min_families)


def test_per_group_values_match_hand_computation():
    result = figures()
    fnr = {g.group: g.value for g in result["fnr"].groups}
    assert fnr == pytest.approx({"a": 2 / 3, "b": 1 / 3})
    exclusion = {g.group: g.value for g in result["exclusion"].groups}
    assert exclusion == pytest.approx({"a": 1 / 3, "b": 1 / 3})
    accuracy = {g.group: g.value for g in result["level_accuracy"].groups}
    assert accuracy == pytest.approx({"a": 0.75, "b": 0.75})
    assert {g.group: g.n for g in result["fnr"].groups} == {"a": 4, "b": 4}
    assert {g.group: g.denominator for g in result["fnr"].groups} == {"a": 3, "b": 3}
    assert {g.group: g.denominator for g in result["level_accuracy"].groups} == {"a": 4, "b": 4}


def test_largest_gap_and_intervals():
    result = figures()
    assert result["fnr"].largest_gap == pytest.approx(1 / 3)
    assert result["exclusion"].largest_gap == pytest.approx(0.0)
    for figure in result.values():
        assert figure.gap_ci_low <= figure.gap_ci_high
        for g in figure.groups:
            assert 0.0 <= g.ci_low <= g.ci_high <= 1.0
    assert result["fnr"].to_dict()["groups"][0]["group"] == "a"
    assert (result["fnr"].highest, result["fnr"].lowest) == ("a", "b")
    assert result["fnr"].left_out == []


def _rows(group: str, eligible_offered: int, eligible_refused: int, others: int) -> pd.DataFrame:
    """A group's families: eligible ones offered `eligible` or sent to review, and others."""
    n = eligible_offered + eligible_refused + others
    return pd.DataFrame(
        {
            "asp_eligible": [True] * (eligible_offered + eligible_refused) + [False] * others,
            "asp": ["eligible"] * eligible_offered
            + ["needs_review"] * eligible_refused
            + ["not_eligible"] * others,
            "level": [3] * n,
            "level_pred": [3] * n,
            "region": [group] * n,
        }
    )


# a: 12 eligible, 3 not offered -> FNR 3/12 = 0.25. b: 10 eligible, 5 not offered -> 0.5.
# c: 3 eligible, all offered -> 0.0 (too small at 10). d: no eligible family -> undefined.
GROUPS = pd.concat(
    [_rows("a", 9, 3, 4), _rows("b", 5, 5, 2), _rows("c", 3, 0, 5), _rows("d", 0, 0, 6)],
    ignore_index=True,
)


@pytest.fixture(scope="module")
def at_ten():
    """GROUPS' figures with a minimum of 10 families (computed once: bootstraps are slow)."""
    return table(GROUPS, 10)


def test_a_group_without_eligible_families_has_no_fnr_not_zero(at_ten):
    fnr = next(f for f in at_ten if f.metric == "fnr")
    d = next(g for g in fnr.groups if g.group == "d")
    assert (d.value, d.ci_low, d.ci_high, d.denominator, d.n) == (None, None, None, 0, 6)
    assert fnr.to_dict()["groups"][3]["value"] is None


def test_largest_gap_compares_only_groups_with_enough_eligible_families(at_ten):
    result = {f.metric: f for f in at_ten}
    fnr = result["fnr"]
    by_group = {g.group: g for g in fnr.groups}
    assert {k: g.value for k, g in by_group.items()} == {"a": 0.25, "b": 0.5, "c": 0.0, "d": None}
    assert {k: g.denominator for k, g in by_group.items()} == {"a": 12, "b": 10, "c": 3, "d": 0}
    assert {k: g.too_small for k, g in by_group.items()} == {
        "a": False, "b": False, "c": True, "d": True,
    }  # fmt: skip
    assert fnr.largest_gap == pytest.approx(0.25)  # b - a; c's 0.0 would make it 0.5
    assert (fnr.highest, fnr.lowest) == ("b", "a")
    assert fnr.left_out == ["c", "d"]
    assert fnr.min_families == 10
    assert fnr.gap_ci_low <= fnr.largest_gap <= fnr.gap_ci_high
    # Level accuracy rests on all of a group's families: 16, 12, 8 and 6.
    accuracy = result["level_accuracy"]
    assert [g.denominator for g in accuracy.groups] == [16, 12, 8, 6]
    assert accuracy.left_out == ["c", "d"]
    # With a lower minimum, c is compared too.
    assert figures(GROUPS, min_families=3)["fnr"].largest_gap == pytest.approx(0.5)


def test_gap_is_not_measurable_with_fewer_than_two_groups():
    only_a = GROUPS[GROUPS["region"].isin(["a", "d"])]
    fnr = figures(only_a, min_families=10)["fnr"]
    assert fnr.largest_gap is None and fnr.gap_ci_low is None and fnr.gap_ci_high is None
    assert (fnr.highest, fnr.lowest) == (None, None)
    assert fnr.left_out == ["d"]
    assert fnr.to_dict()["largest_gap"] is None


def test_report_shows_undefined_as_a_dash_and_says_what_was_left_out(at_ten):
    lines = fairness_lines({"fairness": {"model": "m", "figures": [f.to_dict() for f in at_ten]}})
    fnr = next(line for line in lines if line.startswith("| region | fnr |"))
    assert "d — (n = 0)" in fnr
    assert "c 0.0 % " in fnr and "(n = 3, too small)" in fnr
    assert "a 25.0 % " in fnr and "(n = 12)" in fnr
    assert "| 25.0 % [" in fnr and "b (n = 10) − a (n = 12) (c, d left out) |" in fnr
    only_a = table(GROUPS[GROUPS["region"].isin(["a", "d"])], 10)
    lines = fairness_lines({"fairness": {"model": "m", "figures": [only_a[0].to_dict()]}})
    assert lines[-1].endswith("| — (not measurable: fewer than two groups with a figure "
                              "resting on 10+ families) (d left out) |")  # fmt: skip
