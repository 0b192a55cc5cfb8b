"""Which training-split families the engine-trained model learned from, in the report's words,
as real_scores.json records them (`engine_training`: train_families and subset_seed, beside the
data's n and test_fraction). A file measured before a field was recorded is said to lack it,
never given a value: "0 training-split families, all of them" would read as a fact."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shanyraq.json_values import is_finite_number
from welfare.dataset import split_sizes


def _whole(value: Any) -> int | None:
    """A whole number as recorded (not true/false, a fraction or text), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _split_size(source: Mapping[str, Any]) -> int | None:
    """The size of the training split of the recorded data (n, test_fraction); None where
    either is not recorded as the split is drawn with."""
    n, fraction = _whole(source.get("n")), source.get("test_fraction", 0.0)
    if n is None or n < 1 or not is_finite_number(fraction) or not 0 < fraction < 1:
        return None
    return split_sizes(n, test_fraction=fraction)[0]


def trained_families(source: Mapping[str, Any]) -> str:
    """How many training-split families, and whether all of the split or a subset drawn with a
    seed ("6 training-split families, a subset drawn with seed 3"). Without a subset seed
    recorded (a key written with null means the whole split), the split's recorded size tells
    which; what cannot be told is said not to be recorded."""
    count = _whole(source.get("train_families"))
    said = (
        f"{count:,} training-split families"
        if count is not None
        else "training-split families, how many not recorded"
    )
    if "subset_seed" in source:
        seed = source["subset_seed"]
        return said + (", all of them" if seed is None else f", a subset drawn with seed {seed}")
    if count is None:
        return said + ", nor whether all or a subset"
    whole = _split_size(source)
    if whole is not None and count == whole:
        return said + ", all of them"
    if whole is not None and count < whole:
        return said + ", a subset (its seed not recorded)"
    return said + ", not recorded whether all or a subset"
