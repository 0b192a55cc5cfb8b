"""Fairness: per-group ASP false-negative and exclusion rates and level accuracy, with CIs.

Built on fairlearn's MetricFrame (its own bootstrap gives the intervals). For each grouping
(region, settlement, disability in family, head gender) it reports every group's value with a
95 % interval and the largest gap between groups with its interval.

- fnr: among truly eligible families, the share not recommended `eligible` outright
  (recommended `not_eligible` or sent to review: either way, help is not offered at once).
- exclusion: among truly eligible families, the share recommended `not_eligible`.
- level_accuracy: share of families whose level is right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

CI_QUANTILES = [0.025, 0.975]


@dataclass(frozen=True)
class GroupFigure:
    group: str
    n: int
    value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class GapFigure:
    grouping: str
    metric: str
    groups: list[GroupFigure]
    largest_gap: float
    gap_ci_low: float
    gap_ci_high: float

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


def fnr(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of positives (y_true == 1) with y_pred == 0; NaN with no positives."""
    positives = np.asarray(y_true) == 1
    if not positives.any():
        return float("nan")
    return float((np.asarray(y_pred)[positives] == 0).mean())


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float((np.asarray(y_true) == np.asarray(y_pred)).mean()) if len(y_true) else math.nan


def fairness_table(
    outcomes: pd.DataFrame,
    *,
    groupings: Sequence[str],
    n_boot: int,
    seed: int,
) -> list[GapFigure]:
    """Gap figures for every grouping and metric.

    outcomes columns: asp_eligible (bool), asp (recommendation string), level, level_pred,
    and one column per grouping.
    """
    eligible = outcomes["asp_eligible"].astype(int).to_numpy()
    offered = (outcomes["asp"] == "eligible").astype(int).to_numpy()
    not_excluded = (outcomes["asp"] != "not_eligible").astype(int).to_numpy()
    cases = {
        "fnr": (eligible, offered, fnr),
        "exclusion": (eligible, not_excluded, fnr),
        "level_accuracy": (
            outcomes["level"].to_numpy(),
            outcomes["level_pred"].to_numpy(),
            accuracy,
        ),
    }
    figures = []
    for grouping in groupings:
        groups = outcomes[grouping].astype(str).to_numpy()
        for metric, (y_true, y_pred, fn) in cases.items():
            figures.append(
                _gap(grouping, metric, fn, y_true, y_pred, groups, n_boot=n_boot, seed=seed)
            )
    return figures


def _gap(
    grouping: str,
    metric: str,
    fn: Any,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    groups: np.ndarray,
    *,
    n_boot: int,
    seed: int,
) -> GapFigure:
    from fairlearn.metrics import MetricFrame

    frame = MetricFrame(
        metrics=fn,
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=pd.Series(groups, name=grouping),
        n_boot=n_boot,
        ci_quantiles=CI_QUANTILES,
        random_state=seed,
    )
    by_group = frame.by_group
    low, high = frame.by_group_ci
    counts = pd.Series(groups).value_counts()
    figures = [
        GroupFigure(str(g), int(counts[g]), float(by_group[g]), float(low[g]), float(high[g]))
        for g in by_group.index
    ]
    gap_low, gap_high = frame.difference_ci()
    return GapFigure(
        grouping=grouping,
        metric=metric,
        groups=figures,
        largest_gap=float(frame.difference()),
        gap_ci_low=float(gap_low),
        gap_ci_high=float(gap_high),
    )


def _clean(value: Any) -> Any:
    """NaN to None so the figures are valid JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
