"""JSON holds no NaN or infinity: `finite_or_none` makes values safe to send as JSON."""

from __future__ import annotations

import math
import numbers
from typing import Any


def finite_or_none(value: Any) -> Any:
    """`value` (dicts, lists, numbers, text) with every NaN or infinite number replaced by
    None (JSON null); a copy, the original is left as it is. numpy's floats (float32 is no
    Python float) count as numbers too."""
    if (
        isinstance(value, numbers.Real)
        and not isinstance(value, numbers.Integral)
        and not math.isfinite(value)
    ):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(v) for v in value]
    return value
