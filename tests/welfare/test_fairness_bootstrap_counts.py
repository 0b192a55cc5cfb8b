"""welfare.fairness computes the bootstrap's intervals of the groups on all resamples at once:
the same intervals as fairlearn's MetricFrame (n_boot, random_state) gives for the same draws,
whatever the groups' sizes, including groups some resamples miss and figures undefined in
some (no eligible family drawn)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from welfare.fairness import _frame, accuracy, bootstrap_intervals, fnr, resampled_rows


def _case(seed: int) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 200))
    groups = np.array([f"g{int(x)}" for x in rng.integers(0, int(rng.integers(1, 5)), n)])
    groups[: max(1, n // 40)] = "tiny"  # drawn in some resamples only
    level = rng.integers(1, 7, n)
    return groups, {
        "fnr": (rng.integers(0, 2, n), rng.integers(0, 2, n)),
        "accuracy": (level, np.clip(level + rng.integers(-1, 2, n), 1, 6)),
    }


@pytest.mark.parametrize("seed", range(8))
def test_the_intervals_are_fairlearns_for_the_same_draws(seed: int) -> None:
    groups, cases = _case(seed)
    n_boot = 3 + 4 * seed  # few resamples too: groups missed and figures undefined in some
    rows = resampled_rows(len(groups), n_boot=n_boot, seed=seed)
    for name, fn in (("fnr", fnr), ("accuracy", accuracy)):
        y_true, y_pred = cases[name]
        low, high = bootstrap_intervals(fn, y_true, y_pred, groups, rows)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
            frame = _frame(fn, y_true, y_pred, groups, grouping="g", n_boot=n_boot, seed=seed)
            fair_low, fair_high = frame.by_group_ci
        assert sorted(low.index) == sorted(set(groups))
        for group in low.index:
            ours = [low[group], high[group]]
            theirs = [fair_low.get(group, np.nan), fair_high.get(group, np.nan)]
            assert np.array_equal(ours, theirs, equal_nan=True), (name, group, ours, theirs)


def test_a_group_without_an_eligible_family_has_no_interval() -> None:
    groups = np.array(["a"] * 6 + ["b"] * 4)
    eligible = np.array([1, 0, 1, 1, 0, 1, 0, 0, 0, 0])  # none in b
    offered = np.array([1, 0, 0, 1, 0, 1, 0, 1, 0, 0])
    rows = resampled_rows(len(groups), n_boot=50, seed=1)
    low, high = bootstrap_intervals(fnr, eligible, offered, groups, rows)
    assert np.isnan(low["b"]) and np.isnan(high["b"])
    assert 0 <= low["a"] <= high["a"] <= 1


def test_only_the_figures_it_counts_are_bootstrapped_so() -> None:
    groups = np.array(["a", "b"])
    rows = resampled_rows(2, n_boot=40, seed=0)
    with pytest.raises(ValueError, match="only fnr and accuracy"):
        bootstrap_intervals(lambda t, p: 0.0, groups, groups, groups, rows)
