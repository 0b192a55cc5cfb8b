"""The intervals of the fairness figures: a group's (whole range, exact, bootstrap where it can be
trusted, else Wilson's) and the largest gap's (Newcombe's), with the settings that decide.

Why each is made as it is: welfare.fairness's module docstring. Plain arithmetic, no numpy:
welfare.paired_bootstrap uses the Wilson and exact intervals, the `welfare evaluate` command
the resamples' floor.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from welfare.criteria import FairnessIntervals

# 95 % intervals, as every interval of the welfare reports (welfare.paired_bootstrap uses this
# module's Wilson and exact intervals): a convention of the reports, not a fairness setting.
CI_QUANTILES = [0.025, 0.975]
# How a group's interval is made (GroupFigure.ci_method; welfare.fairness's module docstring).
BOOTSTRAP, WILSON = "bootstrap", "wilson"
WHOLE_RANGE, CLOPPER_PEARSON = "whole-range", "clopper-pearson"


def least_bootstrap_draws() -> int:
    """The fewest resamples whose lowest and highest draw span, on average, the coverage of
    CI_QUANTILES ((B - 1) / (B + 1) >= 95 %: 39): fewer, and no percentile interval means it."""
    return math.ceil(1 / CI_QUANTILES[0] - 1e-9) - 1


def configured_intervals() -> FairnessIntervals:
    """configs/welfare.yaml `fairness.intervals`: when a group's bootstrap interval stands."""
    from welfare.criteria import get_welfare_config

    return get_welfare_config().fairness.intervals


_Z = NormalDist().inv_cdf(CI_QUANTILES[1])


def wilson_interval(events: int, n: int) -> tuple[float, float]:
    """Wilson score interval of the share events / n (95 %, no continuity correction)."""
    centre = (events + _Z**2 / 2) / (n + _Z**2)
    half = _Z * math.sqrt(events * (n - events) / n + _Z**2 / 4) / (n + _Z**2)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(high: tuple[int, int], low: tuple[int, int]) -> tuple[float, float]:
    """Newcombe's hybrid score interval (1998, method 10) of p_high - p_low, each given as
    (events, n) of an independent group, from the two groups' Wilson intervals."""
    p1, p2 = high[0] / high[1], low[0] / low[1]
    (l1, u1), (l2, u2) = wilson_interval(*high), wilson_interval(*low)
    diff = p1 - p2
    lower = diff - math.hypot(p1 - l1, u2 - p2)
    upper = diff + math.hypot(u1 - p1, p2 - l2)
    return max(-1.0, lower), min(1.0, upper)


def group_interval(
    value: float,
    denominator: int,
    bootstrap: tuple[float, float],
    *,
    drawn_share: float,
    min_drawn_share: float | None = None,
) -> tuple[tuple[float, float], str]:
    """A defined figure's interval and how it was made: the whole range on one family, the
    exact interval where all agree, else the `bootstrap` one where it can be trusted (drawn in
    `drawn_share` of the resamples, at least `min_drawn_share`, by default configs/welfare.yaml
    `fairness.intervals`'; `trusted_bootstrap`), or Wilson's."""
    if denominator == 1:
        return _WHOLE_RANGE, WHOLE_RANGE
    if value in (0.0, 1.0):
        return exact_when_all_agree(value, denominator), CLOPPER_PEARSON
    least = configured_intervals().min_drawn_share if min_drawn_share is None else min_drawn_share
    if trusted_bootstrap(value, bootstrap, drawn_share=drawn_share, min_drawn_share=least):
        return bootstrap, BOOTSTRAP
    return wilson_interval(round(value * denominator), denominator), WILSON


def trusted_bootstrap(
    value: float, bootstrap: tuple[float, float], *, drawn_share: float, min_drawn_share: float
) -> bool:
    """Whether the bootstrap interval may stand for a share strictly between 0 and 1
    (welfare.fairness's module docstring): drawn in enough resamples, holding the value, with a
    width."""
    low, high = bootstrap
    if not (math.isfinite(low) and math.isfinite(high)):  # no interval: no resample measured it
        return False
    # A quantile of draws equal to the value may differ from it in the last bits.
    holds = low - _ROUNDING <= value <= high + _ROUNDING
    return drawn_share >= min_drawn_share and holds and high - low > _ROUNDING


_ROUNDING = 1e-9


# Every figure here is a share of families: all one family can say about its spread.
_WHOLE_RANGE = (0.0, 1.0)


def exact_when_all_agree(value: float, n: int) -> tuple[float, float]:
    """Clopper-Pearson interval of a share of 0 or 1 over `n` families (the bootstrap of
    families that all agree never varies)."""
    bound = CI_QUANTILES[0] ** (1 / n)  # the tail's probability that all n agree
    return (0.0, 1.0 - bound) if value == 0.0 else (bound, 1.0)
