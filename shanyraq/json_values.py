"""JSON values: `finite_or_none` makes values safe to send as JSON (which holds no NaN or
infinity); `pairs_once` reads an object whose keys are each given once."""

from __future__ import annotations

import math
import numbers
from typing import Any

# The fields that say which family or photo a JSON object is, to name it in an error.
_NAMING = {"family_id": "family", "photo_sha256": "photo"}


def is_finite_number(value: object) -> bool:
    """A finite JSON number: not true/false (a bool is an int in Python), not NaN or
    infinity, not text, and not a whole number too large to read as a float (JSON allows
    any number of digits; math.isfinite raises OverflowError on such an int, and so would
    every computation with it)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


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


class KeyGivenTwiceError(ValueError):
    """A JSON object gives one key twice (`pairs_once`)."""


def pairs_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict (json.loads' `object_pairs_hook`), refusing a key given
    twice: json would keep the last value and drop the other without a word. The message
    names the key, and the family or photo the object is about when it says."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            named = [f"{word} {_shown(v)}" for k, v in pairs if (word := _NAMING.get(k)) and v]
            where = f" of {named[0]}" if named else ""
            raise KeyGivenTwiceError(f"{key!r} is given twice in the object{where}")
        seen.add(key)
    return dict(pairs)


def _shown(value: object) -> str:
    """An id as the error names it: as written when it is printable text, else its repr. A
    lone surrogate ("\\ud800" in JSON) as written would make the message impossible to encode
    as UTF-8 (the service's answer to it a 500), a newline would break it in two."""
    if isinstance(value, str) and value.isprintable():
        return value
    return repr(value)
