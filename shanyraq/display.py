"""Numbers shown beside a threshold: never rounded onto it or across it."""

from __future__ import annotations

from collections.abc import Iterable

# Below this, two figures are one: float noise (57 % - 52 % is 4.999... points) is no side.
_NOISE = 1e-9


def side(value: float, threshold: float) -> int:
    """-1 below `threshold`, 0 on it, 1 above it (within float noise)."""
    return (value > threshold + _NOISE) - (value < threshold - _NOISE)


def decimals_keeping_side(
    value: float, thresholds: Iterable[float], *, least: int = 0, most: int = 3
) -> int:
    """The fewest decimals, from `least`, that show `value` on its own side of every threshold
    (69.6 beside "from 70" is not shown as 70, +4.96 beside ">= 5" not as +5.0); `most` when
    none up to it does. `value` and `thresholds` in the unit shown."""
    limits = list(thresholds)
    for digits in range(least, most):
        shown = round(value, digits)
        if all(side(shown, t) == side(value, t) for t in limits):
            return digits
    return most
