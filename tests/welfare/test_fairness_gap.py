"""The largest gap's interval is Newcombe's hybrid score interval, honest where neither group has
an event, and the group of families whose attribute is missing (`unknown`) is shown but never
one side of the largest gap."""

from __future__ import annotations

import pandas as pd
import pytest

from welfare.fairness import (
    GAP_CI_METHOD,
    UNKNOWN_GROUP,
    fairness_table,
    newcombe_interval,
    wilson_interval,
)
from welfare.fairness_report import fairness_lines


def _rows(group, *, offered=0, refused=0, excluded=0, right=0, wrong=0, column="region"):
    """A group's families: eligible ones offered `eligible`, sent to review or recommended
    `not_eligible`; then not-eligible ones whose level is right or wrong (eligible ones' level
    is right)."""
    eligible = offered + refused + excluded
    n = eligible + right + wrong
    return pd.DataFrame(
        {
            "asp_eligible": [True] * eligible + [False] * (right + wrong),
            "asp": ["eligible"] * offered
            + ["needs_review"] * refused
            + ["not_eligible"] * (excluded + right + wrong),
            "level": [3] * n,
            "level_pred": [3] * (eligible + right) + [4] * wrong,
            column: [group] * n,
        }
    )


def _table(frame, *, column="region", min_families=10):
    figures = fairness_table(
        frame, groupings=[column], n_boot=20, seed=0, min_families=min_families
    )
    return {f.metric: f for f in figures}


def test_newcombe_interval_matches_newcombe_1998_worked_examples():
    # Newcombe (1998), Stat Med 17:873-890, table II, method 10.
    assert newcombe_interval((56, 70), (48, 80)) == pytest.approx((0.0524, 0.3339), abs=5e-5)
    assert newcombe_interval((9, 10), (3, 10)) == pytest.approx((0.1705, 0.8090), abs=5e-5)
    assert newcombe_interval((5, 56), (0, 29)) == pytest.approx((-0.0381, 0.1926), abs=5e-5)
    assert newcombe_interval((0, 10), (0, 20)) == pytest.approx((-0.1611, 0.2775), abs=5e-5)
    assert newcombe_interval((10, 10), (0, 20)) == pytest.approx((0.6791, 1.0), abs=5e-5)
    # By hand: Wilson's upper bound of 0 of 10 is z^2 / (10 + z^2).
    z2 = 1.959964**2
    assert wilson_interval(0, 10) == pytest.approx((0.0, z2 / (10 + z2)))


def test_level_accuracy_gap_interval_is_newcombes_for_the_two_groups():
    # a: 56 of 70 levels right (80 %), b: 48 of 80 (60 %); gap a - b = 0.2000.
    frame = pd.concat([_rows("a", right=56, wrong=14), _rows("b", right=48, wrong=32)])
    accuracy = _table(frame)["level_accuracy"]
    assert (accuracy.highest, accuracy.lowest) == ("a", "b")
    assert accuracy.largest_gap == pytest.approx(0.2)
    assert (accuracy.gap_ci_low, accuracy.gap_ci_high) == pytest.approx((0.0524, 0.3339), abs=5e-5)
    assert accuracy.gap_ci_method == GAP_CI_METHOD == "newcombe"


def test_a_gap_between_two_groups_without_an_event_is_not_certain():
    """No eligible family excluded in either group: a bootstrap read 0 - 0 = [0 %, 0 %]."""
    frame = pd.concat([_rows("a", offered=200), _rows("b", offered=60)], ignore_index=True)
    exclusion = _table(frame)["exclusion"]
    assert exclusion.largest_gap == pytest.approx(0.0)
    by_group = {g.group: g for g in exclusion.groups}
    high, low = by_group[exclusion.highest], by_group[exclusion.lowest]
    assert exclusion.gap_ci_low == pytest.approx(-wilson_interval(0, low.denominator)[1])
    assert exclusion.gap_ci_high == pytest.approx(wilson_interval(0, high.denominator)[1])
    # As wide as the groups' own uncertainty: b's 60 families alone reach several points.
    assert max(-exclusion.gap_ci_low, exclusion.gap_ci_high) > 0.05
    assert by_group["b"].ci_high == pytest.approx(1 - 0.025 ** (1 / 60))  # groups: as before
    line = next(
        line
        for line in fairness_lines({"fairness": {"model": "m", "figures": [exclusion.to_dict()]}})
        if line.startswith("| region | exclusion |")
    )
    assert "| 0.0 % [0.0 %–0.0 %]" not in line


# yes: 90 of 100 levels right, no: 88 of 100, unknown: 60 of 100 (enough families to compare).
DISABILITY = pd.concat(
    [
        _rows("yes", right=90, wrong=10, column="disability_in_family"),
        _rows("no", right=88, wrong=12, column="disability_in_family"),
        _rows(UNKNOWN_GROUP, right=60, wrong=40, column="disability_in_family"),
    ],
    ignore_index=True,
)


def test_the_unknown_group_is_shown_but_not_one_side_of_the_largest_gap():
    accuracy = _table(DISABILITY, column="disability_in_family")["level_accuracy"]
    assert accuracy.largest_gap == pytest.approx(0.02)  # yes - no, not yes - unknown (0.30)
    assert (accuracy.highest, accuracy.lowest) == ("yes", "no")
    assert accuracy.left_out == [UNKNOWN_GROUP]
    unknown = next(g for g in accuracy.groups if g.group == UNKNOWN_GROUP)
    assert unknown.value == pytest.approx(0.6) and not unknown.too_small
    assert unknown.attribute_missing
    line = next(
        line
        for line in fairness_lines({"fairness": {"model": "m", "figures": [accuracy.to_dict()]}})
        if line.startswith("| disability_in_family | level_accuracy |")
    )
    assert "unknown 60.0 % [" in line and "(n = 100, attribute missing)" in line
    assert line.endswith(": yes (n = 100) − no (n = 100) (unknown left out) |")


def test_a_missing_value_in_any_grouping_is_the_unknown_group():
    """A grouping column with missing values: read as `unknown`, not as the text 'None'."""
    frame = DISABILITY.rename(columns={"disability_in_family": "head_gender"})
    frame["head_gender"] = frame["head_gender"].replace({UNKNOWN_GROUP: None})
    accuracy = _table(frame, column="head_gender")["level_accuracy"]
    assert {g.group for g in accuracy.groups} == {"yes", "no", UNKNOWN_GROUP}
    assert accuracy.left_out == [UNKNOWN_GROUP]
    assert accuracy.largest_gap == pytest.approx(0.02)


def test_the_report_names_the_gap_interval_method():
    accuracy = _table(DISABILITY, column="disability_in_family")["level_accuracy"]
    text = "\n".join(fairness_lines({"fairness": {"model": "m", "figures": [accuracy.to_dict()]}}))
    assert "Newcombe's hybrid score interval" in text and "Wilson intervals" in text
    assert "*attribute missing*" in text
