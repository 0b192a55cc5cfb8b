"""Review of the fairness figures: the largest gap's interval is the interval of the difference
it names (highest minus lowest), and a figure on which every family agrees
gets no zero-width interval."""

from __future__ import annotations

import pandas as pd
import pytest

from welfare.fairness import CI_QUANTILES, fairness_table
from welfare.fairness_report import fairness_lines


def _rows(group: str, offered: int, not_offered: int, others: int) -> pd.DataFrame:
    """A group's families: eligible ones offered `eligible` or sent to review, and others."""
    n = offered + not_offered + others
    return pd.DataFrame(
        {
            "asp_eligible": [True] * (offered + not_offered) + [False] * others,
            "asp": ["eligible"] * offered + ["needs_review"] * not_offered + ["eligible"] * others,
            "level": [3] * n,
            "level_pred": [3] * n,
            "region": [group] * n,
        }
    )


def _table(frame: pd.DataFrame, seed: int = 0):
    figures = fairness_table(frame, groupings=["region"], n_boot=100, seed=seed, min_families=10)
    return {f.metric: f for f in figures}


# a and b: the same FNR (50 of 200); c: 3 eligible families, every one offered `eligible`.
SAME = pd.concat(
    [_rows("a", 150, 50, 50), _rows("b", 150, 50, 50), _rows("c", 3, 0, 0)], ignore_index=True
)


@pytest.fixture(scope="module")
def same():
    return _table(SAME)


def test_gap_interval_holds_its_own_gap_and_zero_when_groups_are_equal(same):
    """Bootstrapping max - min can never go below 0: the interval of a zero gap excluded 0."""
    fnr = same["fnr"]
    assert fnr.largest_gap == pytest.approx(0.0)
    assert fnr.gap_ci_low is not None and fnr.gap_ci_high is not None
    assert fnr.gap_ci_low < 0.0 < fnr.gap_ci_high  # highest - lowest, signed: may cross 0


def test_gap_interval_is_that_of_the_named_difference():
    # a: FNR 0.25 of 200, b: 0.5 of 200; the gap b - a = 0.25 lies inside its interval.
    frame = pd.concat([_rows("a", 150, 50, 0), _rows("b", 100, 100, 0)], ignore_index=True)
    fnr = _table(frame)["fnr"]
    assert (fnr.highest, fnr.lowest) == ("b", "a")
    assert fnr.largest_gap == pytest.approx(0.25)
    assert 0.1 < fnr.gap_ci_low < 0.25 < fnr.gap_ci_high < 0.4


def test_figures_are_the_same_run_to_run_and_follow_the_seed(same):
    again = _table(SAME)  # the module's table made again (each table takes seconds)
    assert [f.to_dict() for f in same.values()] == [f.to_dict() for f in again.values()]
    other = _table(SAME, seed=1)["fnr"]
    # The groups' bootstrap intervals follow the seed; the gap's (Newcombe's, no resampling:
    # test_fairness_gap.py) does not.
    assert other.groups[0].ci_low != same["fnr"].groups[0].ci_low
    assert (other.gap_ci_low, other.gap_ci_high) == (
        same["fnr"].gap_ci_low,
        same["fnr"].gap_ci_high,
    )


def test_a_figure_every_family_agrees_on_has_the_exact_interval_not_zero_width(same):
    """3 families all offered: a bootstrap of them never varies, [0 %, 0 %] reads as certainty."""
    tail = CI_QUANTILES[0]
    c = next(g for g in same["fnr"].groups if g.group == "c")
    assert (c.value, c.denominator, c.too_small) == (0.0, 3, True)
    assert (c.ci_low, c.ci_high) == (0.0, pytest.approx(1 - tail ** (1 / 3)))  # Clopper-Pearson
    # Exclusion: no eligible family of a (200) is recommended `not_eligible`.
    a = next(g for g in same["exclusion"].groups if g.group == "a")
    assert (a.value, a.ci_low) == (0.0, 0.0)
    assert a.ci_high == pytest.approx(1 - tail ** (1 / 200))
    # Level accuracy: every family's level is right, 100 % with an interval below it.
    b = next(g for g in same["level_accuracy"].groups if g.group == "b")
    assert (b.value, b.ci_high) == (1.0, 1.0)
    assert b.ci_low == pytest.approx(tail ** (1 / 250))
    line = next(
        line
        for line in fairness_lines({"fairness": {"model": "m", "figures": [same["fnr"].to_dict()]}})
        if line.startswith("| region | fnr |")
    )
    assert "c 0.0 % [0.0 %–70.8 %] (n = 3, too small)" in line
