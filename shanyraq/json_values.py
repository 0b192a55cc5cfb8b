"""JSON holds no NaN or infinity: `finite_or_none` makes parsed values safe to send as JSON."""

from __future__ import annotations

import math
from typing import Any


def finite_or_none(value: Any) -> Any:
    """`value` (dicts, lists, numbers, text) with every NaN or infinite number replaced by
    None (JSON null); a copy, the original is left as it is."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    return value
