"""Fairness: per-group ASP false-negative and exclusion rates and level accuracy, with CIs.

Built on fairlearn's MetricFrame (the groups' figures) and its bootstrap (the groups'
intervals). For each grouping (region, settlement, disability in family, head gender) it reports
every group's value with a 95 % interval and the largest gap between groups with its interval.
The bootstrap's intervals are fairlearn's: the resamples its MetricFrame(n_boot, random_state)
draws (`resampled_rows`), each group's figure on each of them and the quantiles it takes over
them (`bootstrap_intervals`), only computed on all resamples at once (counts of each group's
families per resample) instead of a MetricFrame per resample (3,000 families, 200 resamples:
0.02 s against 8.6 s here); the tests hold them equal to MetricFrame's own.

- fnr: among truly eligible families, the share not recommended `eligible` outright
  (recommended `not_eligible` or sent to review: either way, help is not offered at once).
- exclusion: among truly eligible families, the share recommended `not_eligible`.
- level_accuracy: share of families whose level is right.

A figure rests on its denominator: the group's eligible families for fnr and exclusion, all its
families for level accuracy. A group with no eligible family has no fnr (None, never 0). A
group whose figure rests on fewer than `min_families` is shown, marked too small, and left out
of the largest gap, which compares only groups with a defined figure of enough families and is
None when fewer than two remain.

A figure resting on one family gets the whole range [0, 1] as its interval: every bootstrap
sample holds that family or none of the group, so the bootstrap gives [value, value], a
certainty one family cannot give. For the same reason a figure on which all of its families
agree (0 or 1) gets the exact (Clopper-Pearson) interval instead of the bootstrap's.

Any other figure keeps its bootstrap interval only where it can be trusted. First, there must
be enough resamples: with B of them even the lowest and highest draw span on average only
(B - 1) / (B + 1) of the bootstrap's distribution, under 95 % below 39 (`least_bootstrap_draws`),
so a percentile interval of fewer means nothing; below configs/welfare.yaml
`fairness.intervals.min_bootstrap_draws` (at least that) no bootstrap is drawn and every such
figure gets Wilson's interval. fairlearn takes a group's quantiles over the resamples that drew
it with its figure defined, however few: with few resamples a tiny group's interval may rest on
one or two draws and miss its own value (a level accuracy of 83.3 % read [100 %, 100 %]). So
the group must have been drawn, with its figure defined, in at least `min_drawn_share` of the
resamples (`fairness.intervals`; at least the interval's own 95 %: the resamples that could
not measure it are then no more than its two tails together), and the interval must
hold the value and have a width (a share between 0 and 1 of two or more families varies from
resample to resample). fairlearn does not say how many resamples drew a group: `drawn_shares`
counts them on the rows its resamples draw (`resampled_rows`). A figure whose bootstrap fails
this, or that the bootstrap gives no interval at all (its group drawn in no resample, or its
figure undefined in every resample that drew it), gets Wilson's score interval of its share,
the interval the largest gap's is built from; the group is never dropped. Each figure's
`ci_method` names how its interval was made. The intervals themselves are made in
welfare.fairness_intervals.

The largest gap is the highest group's value minus the lowest's. Its interval is Newcombe's
hybrid score interval for a difference of two independent proportions (Newcombe 1998, method
10), built from the two groups' Wilson intervals; it may cross 0. Every figure here is a share
of a group's families and no family is in two groups, so the two shares are independent. It is
used for every gap, not only where a bootstrap fails: a bootstrap of the difference never varies
when neither group has an event (every exclusion figure: 0 - 0 in every resample read [0 %, 0 %]
while each group's own interval reached several points), tends to be too narrow on small groups,
and moves with the seed; Newcombe's interval keeps close to 95 % coverage at 0 events and small
n, and is the same run to run. (The bootstrap of max - min over groups, fairlearn's
`difference_ci`, never goes below 0: it excluded 0 even for two groups with equal values.)

Families whose attribute is missing (the `unknown` group: welfare/evaluation.py names them so,
and a missing value in a grouping column is read the same way) are shown but left out of the
largest gap: they are no group of the attribute, and a gap against them says nothing about it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shanyraq.json_values import finite_or_none
from welfare.fairness_intervals import BOOTSTRAP as BOOTSTRAP  # `X as X`: imported from here
from welfare.fairness_intervals import (
    CI_QUANTILES,
    configured_intervals,
    group_interval,
    newcombe_interval,
)
from welfare.fairness_intervals import CLOPPER_PEARSON as CLOPPER_PEARSON
from welfare.fairness_intervals import WHOLE_RANGE as WHOLE_RANGE
from welfare.fairness_intervals import WILSON as WILSON
from welfare.fairness_intervals import least_bootstrap_draws as least_bootstrap_draws
from welfare.fairness_intervals import wilson_interval as wilson_interval

if TYPE_CHECKING:
    from welfare.criteria import FairnessIntervals

# The group of families whose attribute is missing: shown, never compared (module docstring).
UNKNOWN_GROUP = "unknown"
# How the largest gap's interval is made (GapFigure.gap_ci_method).
GAP_CI_METHOD = "newcombe"


@dataclass(frozen=True)
class GroupFigure:
    group: str
    n: int  # families in the group
    denominator: int  # families the value rests on (eligible ones for fnr and exclusion)
    value: float | None  # None: undefined, no family to rest on
    ci_low: float | None
    ci_high: float | None
    too_small: bool  # rests on fewer than the minimum: left out of the largest gap
    attribute_missing: bool  # the `unknown` group: left out of the largest gap
    ci_method: str | None  # how the interval was made (BOOTSTRAP ...); None: undefined


@dataclass(frozen=True)
class GapFigure:
    grouping: str
    metric: str
    groups: list[GroupFigure]
    # Highest minus lowest value over the groups compared; None (not measurable) when fewer
    # than two groups have a defined value resting on at least `min_families`.
    largest_gap: float | None
    gap_ci_low: float | None
    gap_ci_high: float | None
    highest: str | None  # the groups the gap lies between
    lowest: str | None
    gap_ci_method: str | None  # GAP_CI_METHOD where a gap is measured
    left_out: list[str]  # undefined, too small or attribute missing: not compared
    min_families: int
    # How the groups' intervals were made: the resamples (n_boot, seed) and the settings used
    # (configs/welfare.yaml `fairness.intervals`); none drawn below min_bootstrap_draws.
    intervals: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return finite_or_none(asdict(self))  # NaN figures as null: valid JSON


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
    min_families: int,
    intervals: FairnessIntervals | None = None,
) -> list[GapFigure]:
    """Gap figures for every grouping and metric.

    outcomes columns: asp_eligible (bool), asp (recommendation string), level, level_pred,
    and one column per grouping. `min_families`: the fewest families a group's figure may rest
    on and still be compared (configs/welfare.yaml `fairness.min_families_per_group`);
    `intervals`: when a bootstrap interval stands (default: configs/welfare.yaml's).
    """
    settings = intervals or configured_intervals()
    # Fewer resamples than the minimum: none drawn, no bootstrap interval (module docstring).
    drawn_boot = n_boot if n_boot >= settings.min_bootstrap_draws else None
    recorded = {"n_boot": n_boot, "seed": seed, **settings.model_dump(mode="json")}
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
    rows = resampled_rows(len(outcomes), n_boot=drawn_boot, seed=seed) if drawn_boot else None
    for grouping in groupings:
        # A missing value is the unknown group (module docstring), not the text 'None'/'nan'.
        groups = outcomes[grouping].astype(object).fillna(UNKNOWN_GROUP).astype(str).to_numpy()
        for metric, (y_true, y_pred, fn) in cases.items():
            rests_on = eligible if metric in _ON_ELIGIBLE else np.ones(len(groups), dtype=int)
            figures.append(
                _gap(
                    grouping,
                    metric,
                    fn,
                    (y_true, y_pred, rests_on),
                    groups,
                    rows=rows,
                    min_families=min_families,
                    drawn=_NONE_DRAWN if rows is None else drawn_shares(rows, groups, rests_on),
                    intervals=recorded,
                )
            )
    return figures


def resampled_rows(n_rows: int, *, n_boot: int, seed: int) -> np.ndarray:
    """The rows (n_boot x n_rows) that MetricFrame's `n_boot` resamples of `n_rows` rows draw
    with `random_state=seed`, drawn as fairlearn draws them (its generate_bootstrap_samples):
    one seed per resample from numpy's default_rng(seed), each resample a pandas sample of all
    the rows with replacement."""
    seeds = np.random.default_rng(seed).integers(
        low=0, high=np.iinfo(np.uint32).max, size=n_boot, dtype=np.uint32
    )
    rows = pd.Series(np.arange(n_rows))
    draws = [rows.sample(frac=1, replace=True, random_state=s, ignore_index=True) for s in seeds]
    return np.stack([draw.to_numpy() for draw in draws])


def drawn_shares(rows: np.ndarray, groups: np.ndarray, rests_on: np.ndarray) -> pd.Series:
    """Per group, the share of the resamples (`rows`, from `resampled_rows`) that drew at least
    one of its families the figure rests on: those in which its figure is defined."""
    names, codes = np.unique(groups, return_inverse=True)
    resample = np.repeat(np.arange(len(rows)), rows.shape[1])
    drawn = np.zeros((len(rows), len(names)), dtype=bool)
    counted = np.asarray(rests_on)[rows].ravel() > 0
    drawn[resample[counted], codes[rows].ravel()[counted]] = True
    return pd.Series(drawn.mean(axis=0), index=names)


def bootstrap_intervals(
    fn: Any, y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, rows: np.ndarray
) -> tuple[pd.Series, pd.Series]:
    """Each group's bootstrap interval (CI_QUANTILES) of `fn` (`fnr` or `accuracy`) over the
    resamples `rows` (`resampled_rows`), as fairlearn's MetricFrame gives them (`by_group_ci`)
    for those draws: the group's figure on each resample, undefined (left out) where the
    resample drew none of the families it rests on, and numpy's nanquantile over the
    resamples. A group no resample measured has no interval (NaN)."""
    if fn is not fnr and fn is not accuracy:
        raise ValueError(f"no bootstrap of {fn!r} by counts: only fnr and accuracy")
    names, codes = np.unique(groups, return_inverse=True)
    true, pred = np.asarray(y_true)[rows], np.asarray(y_pred)[rows]
    if fn is fnr:  # the positives drawn, and those of them not predicted positive
        rests_on, counted = true == 1, (true == 1) & (pred == 0)
    else:  # every family drawn, and those whose prediction is right
        rests_on, counted = np.ones(rows.shape, dtype=bool), true == pred
    cells = (np.arange(len(rows))[:, None] * len(names) + codes[rows]).ravel()
    shape = (len(rows), len(names))
    size = shape[0] * shape[1]
    on = np.bincount(cells, weights=rests_on.ravel(), minlength=size).reshape(shape)
    of = np.bincount(cells, weights=counted.ravel(), minlength=size).reshape(shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(on > 0, of / on, np.nan)
    with warnings.catch_warnings():  # a group measured by no resample: no interval
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        low, high = np.nanquantile(values, CI_QUANTILES, axis=0)
    return pd.Series(low, index=names), pd.Series(high, index=names)


_ON_ELIGIBLE = frozenset({"fnr", "exclusion"})
_NONE_DRAWN = pd.Series(dtype=float)  # no resample drew any group: no bootstrap


def _frame(
    fn: Any,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    groups: np.ndarray,
    *,
    grouping: str,
    n_boot: int | None = None,
    seed: int = 0,
) -> Any:
    """fairlearn's MetricFrame of `fn` by group, with `n_boot` resamples drawn from `seed`
    (None: none, as `_gap` asks for it: the intervals are `bootstrap_intervals`'; the tests
    ask for fairlearn's own bootstrap to hold those to)."""
    from fairlearn.metrics import MetricFrame

    return MetricFrame(
        metrics=fn,
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=pd.Series(groups, name=grouping),
        n_boot=n_boot,
        ci_quantiles=CI_QUANTILES if n_boot else None,
        random_state=seed,
    )


def _gap(
    grouping: str,
    metric: str,
    fn: Any,
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray],
    groups: np.ndarray,
    *,
    rows: np.ndarray | None,
    min_families: int,
    drawn: pd.Series,
    intervals: dict[str, Any],
) -> GapFigure:
    """One grouping's figures for one metric; `rows`: the bootstrap's resamples
    (`resampled_rows`; None: none drawn); `drawn`: each group's share of the resamples that
    measure its figure (`drawn_shares`); `intervals`: GapFigure.intervals."""
    y_true, y_pred, rests_on = arrays
    least = {"min_families": min_families, "min_drawn_share": intervals["min_drawn_share"]}
    with warnings.catch_warnings():  # a group with no eligible family has no interval
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        frame = _frame(fn, y_true, y_pred, groups, grouping=grouping)
        if rows is None:
            bootstrap = (_NONE_DRAWN, _NONE_DRAWN)
        else:
            bootstrap = bootstrap_intervals(fn, y_true, y_pred, groups, rows)
        figures = _group_figures(frame, groups, rests_on, drawn, bootstrap, **least)
    compared = [f for f in figures if _compared(f)]
    figure = GapFigure(
        grouping=grouping,
        metric=metric,
        groups=figures,
        largest_gap=None,
        gap_ci_low=None,
        gap_ci_high=None,
        highest=None,
        lowest=None,
        gap_ci_method=None,
        left_out=[f.group for f in figures if not _compared(f)],
        min_families=min_families,
        intervals=intervals,
    )
    if len(compared) < 2:
        return figure
    ranked = sorted(compared, key=lambda f: f.value if f.value is not None else math.nan)
    highest, lowest = ranked[-1], ranked[0]
    assert highest.value is not None and lowest.value is not None  # compared: defined
    gap_low, gap_high = newcombe_interval(
        (_events(highest), highest.denominator), (_events(lowest), lowest.denominator)
    )
    return replace(
        figure,
        largest_gap=highest.value - lowest.value,
        gap_ci_low=gap_low,
        gap_ci_high=gap_high,
        highest=highest.group,
        lowest=lowest.group,
        gap_ci_method=GAP_CI_METHOD,
    )


def _compared(f: GroupFigure) -> bool:
    return f.value is not None and not f.too_small and not f.attribute_missing


def _events(f: GroupFigure) -> int:
    """The families the share counts (the value is that count over the denominator)."""
    assert f.value is not None
    return round(f.value * f.denominator)


def _group_figures(
    frame: Any,
    groups: np.ndarray,
    rests_on: np.ndarray,
    drawn: pd.Series,
    bootstrap_ci: tuple[pd.Series, pd.Series],
    *,
    min_families: int,
    min_drawn_share: float,
) -> list[GroupFigure]:
    low, high = bootstrap_ci
    counts = pd.Series(groups).value_counts()
    denominators = pd.Series(rests_on).groupby(groups).sum()
    figures = []
    for g, value in frame.by_group.items():
        defined = not math.isnan(value)
        # A group no resample drew is missing from the bootstrap's intervals (module docstring).
        bootstrap = (float(low.get(g, math.nan)), float(high.get(g, math.nan)))
        interval: tuple[float | None, float | None] = (None, None)
        method = None
        if defined:
            share = float(drawn.get(str(g), 0.0))
            interval, method = group_interval(
                float(value),
                int(denominators[g]),
                bootstrap,
                drawn_share=share,
                min_drawn_share=min_drawn_share,
            )
        figures.append(
            GroupFigure(
                group=str(g),
                n=int(counts[g]),
                denominator=int(denominators[g]),
                value=float(value) if defined else None,
                ci_low=interval[0],
                ci_high=interval[1],
                too_small=int(denominators[g]) < min_families,
                attribute_missing=str(g) == UNKNOWN_GROUP,
                ci_method=method,
            )
        )
    return figures
