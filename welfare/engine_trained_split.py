"""What an engine-trained model records of the split it learned from (the subset of training
families, the test fraction), read as train-engine's options take them.

A value recorded otherwise (a string, a fraction, a truth value, a subset larger than its data's
training split holds, a subset smaller or larger than that split with no seed it was drawn with)
is a damaged record: those families cannot be drawn again to check the
model, so it is refused as one, naming the command that trains it again (welfare.retrain_words)
as that command would run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shanyraq.errors import ModelMismatchError
from welfare.model_data import option_value, recorded
from welfare.model_folder import META_FILE, FusionMeta
from welfare.retrain_words import train_engine_again


def damaged(data: Mapping[str, Any], keys: Sequence[str], what: str) -> str:
    """The words saying that the model's fusion.json records `what` (each of `keys` and its
    value as the file holds it: JSON, null for one not recorded)."""
    values = ", ".join(f"{key} {json.dumps(data.get(key), default=str)}" for key in keys)
    return f"its {META_FILE} records {what} {values}"


def trained_subset(folder: Path, meta: FusionMeta) -> tuple[int | None, int]:
    """The subset of training families the engine model of `meta` was trained on, as
    train-engine drew it: (its size, the seed it was drawn with), (None, 0) for every family of
    its data's training split (no subset seed recorded; a size recorded beside none is checked
    to be the split's by `check_subset_in_split`, which knows the split's size). Refused where
    either is recorded otherwise than as train-engine's --families and --subset-seed take them
    (a string, a fraction, a truth value, a size below 1, a seed below 0 that no subset is drawn
    with): those families cannot be drawn again to check it, nor said as it was trained."""
    data = recorded(meta.metrics)
    families, seed = data.get("train_families"), data.get("subset_seed")
    size = option_value("train-engine", "--families", families)
    drawn = option_value("train-engine", "--subset-seed", seed) if seed is not None else 0
    if seed is None and (families is None or size is not None):
        return None, 0
    if size is not None and drawn is not None and drawn >= 0:
        return size, drawn
    what = "the subset of training families it was trained on as"
    raise ModelMismatchError(
        f"{folder}: {damaged(data, ('train_families', 'subset_seed'), what)}, not as whole "
        "numbers train-engine's --families and --subset-seed take: a damaged record, so those "
        "families cannot be drawn again to check it; train it again with "
        f"{train_engine_again(folder, meta)}"
    )


@dataclass(frozen=True)
class _WholeSplit:
    """The metrics of a model with its recorded subset taken out: what the command that trains
    it again on every family of its data's training split is worded from."""

    metrics: Mapping[str, Any]


def check_subset_in_split(
    folder: Path, meta: FusionMeta, *, available: int, n: int, seed: int
) -> None:
    """Refuse the engine model of `meta` where the subset of training families it records is
    larger than the `available` families its data's (n, seed) training split holds: no such
    subset was ever drawn from them (train-engine refuses to), so the record is damaged, not
    the reader's option. So is one recording another number of families than `available`
    without the seed they were drawn with (`trained_subset` reads no seed as the whole split):
    a subset is drawn again only with its seed. The command told trains it again on all of
    them, as train-engine does without --families: the recorded size, larger, would be refused
    by train-engine, and smaller, drawn with no seed recorded, would be other families."""
    size, _ = trained_subset(folder, meta)
    data = recorded(meta.metrics)
    what = "the subset of training families it was trained on as"
    if size is None:  # no seed: every family of the split, if as many as it holds are recorded
        seedless = option_value("train-engine", "--families", data.get("train_families"))
        if seedless is None or seedless == available:
            return
        raise ModelMismatchError(
            f"{folder}: {damaged(data, ('train_families', 'subset_seed'), what)}: "
            f"{seedless} families but no subset_seed they were drawn with, while the training "
            f"split of its data ({n} families, seed {seed}) holds {available}: a damaged "
            "record, so those families cannot be drawn again to check it; train it again on all "
            f"{available} with {train_engine_again(folder, meta)}"
        )
    if size <= available:
        return
    whole = _WholeSplit({**meta.metrics, "data": {**data, "subset_seed": None}})
    raise ModelMismatchError(
        f"{folder}: {damaged(data, ('train_families', 'subset_seed'), what)}, but the training "
        f"split of its data ({n} families, seed {seed}) holds only {available}: a damaged "
        "record, so those families cannot be drawn again to check it; train it again on all "
        f"{available} with {train_engine_again(folder, whole)}"
    )


def trained_fraction(folder: Path, meta: FusionMeta) -> float | None:
    """The test fraction whose training split the model of `meta` learned from, as its data
    record it (else its recipe, which the same configs/welfare.yaml gave); None for neither.
    Refused where recorded otherwise than as a share above 0 and below 1 (a damaged record)."""
    data = recorded(meta.metrics)
    key_in = data if data.get("test_fraction") is not None else (meta.recipe or {})
    fraction = key_in.get("test_fraction")
    if fraction is None:
        return None
    number = isinstance(fraction, int | float) and not isinstance(fraction, bool)
    if number and 0 < fraction < 1:
        return float(fraction)
    raise ModelMismatchError(
        f"{folder}: {damaged(key_in, ('test_fraction',), 'the split it was trained on as')}, not "
        "as a share above 0 and below 1: a damaged record, so its test families cannot be told "
        "apart from those it was trained on; train it again with "
        f"{train_engine_again(folder, meta)}"
    )
