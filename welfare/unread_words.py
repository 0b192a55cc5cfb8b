"""The command a refusal names for a fusion model whose fusion.json cannot be read as metadata (not
UTF-8, not JSON, keys missing or unknown, values of another kind): no FusionMeta tells how it was
built, so the command is worded from what can still be said (`unread_again`).

- Its `metrics`, where they are still a JSON object: a model whose training data name the vision
  model that scored its photos was built by `welfare train-engine`, and is trained again where it
  is with every option they record (`train_engine_again`); another records the data (n, seed) and
  whether it was kept only with --keep-meaningless.
- Its folder: `welfare train` saves each model as --out/<its name>, so a folder named as a
  registered model is one of its --out's models, trained again with `--out` the folder above and
  `--model` its name; where its metrics do not give the data, the folder's other models trained
  by `welfare train` do (it refuses to train beside models of other data). Any other folder is
  taken for an engine model's own (train-engine's --out, named as the reader chose).

What cannot be known is said: which options to give, and why.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from welfare.criteria import MIN_RECIPE_FAMILIES
from welfare.model_folder import META_FILE, TRAIN, TRAIN_ENGINE, model_folders, retrain_command
from welfare.retrain_words import keep_option, kept_meaningless, train_engine_again


@dataclass(frozen=True)
class _Left:
    """What is left of an unreadable fusion.json to word a command from: its metrics."""

    metrics: Mapping[str, Any] = field(default_factory=dict)


def unread_again(folder: Path, data: object) -> str:
    """What to do about the model in `folder` whose fusion.json holds `data` (None: not JSON, or
    not read at all), "; train the model again with `...`": the most complete command that is
    right, and what the reader must add where it cannot be known."""
    folder = Path(folder)
    metrics = data.get("metrics") if isinstance(data, Mapping) else None
    left = _Left(metrics if isinstance(metrics, Mapping) else {})
    if retrain_command(left.metrics) == TRAIN_ENGINE:
        return f"; train the model again with {train_engine_again(folder, left)}"
    from welfare.fusion import list_models  # it imports welfare.retrain_words, as this does

    if folder.name not in list_models():
        return (
            f"; train the model again with `{TRAIN_ENGINE} --out {folder} --overwrite`, giving "
            "--vision, --size, --n, --seed, --families and --subset-seed as it was trained: its "
            f"{META_FILE} no longer records them, and the defaults train another model (its "
            f"folder is not named as a model `{TRAIN}` saves, {', '.join(list_models())}, so it "
            "is taken for a model `welfare train-engine` built); or, had `welfare train` built "
            "it in a folder since renamed, run that command again with its --out and --model (it "
            "saves the model as --out/<its name>, never here)"
        )
    return _train_again(folder, left)


def _train_again(folder: Path, left: _Left) -> str:
    """The `welfare train` command for the model in `folder`, one of its --out's models."""
    out, name = folder.parent, folder.name
    recorded, kept = _data(left.metrics), kept_meaningless(left.metrics)
    if recorded is None:  # the data the folder's other models agree on, which `train` needs
        recorded, kept = _others_data(folder)
    said = f" --n {recorded[0]} --seed {recorded[1]}" if recorded else ""
    keep = keep_option(recorded[0] if recorded else MIN_RECIPE_FAMILIES, asked=kept)
    command = f"`{TRAIN} --out {out}{said} --model {name} --overwrite{keep}`"
    if recorded is None:
        command += (
            f", with --n and --seed of the data it was trained on (the recipe's if left out), "
            f"which neither its {META_FILE} nor another model in {out} records"
        )
    if _data(left.metrics) is None:
        command += (
            f" (or, had `welfare train-engine` built it, `{TRAIN_ENGINE} --out {folder} "
            "--overwrite` with the options it was trained with)"
        )
    return f"; train the model again with {command}"


def _data(metrics: Mapping[str, Any]) -> tuple[int, int] | None:
    """The (n, seed) of the data `metrics` record, where they are whole numbers."""
    data = metrics.get("data")
    if not isinstance(data, Mapping):
        return None
    n, seed = data.get("n"), data.get("seed")
    return (n, seed) if _whole(n) and _whole(seed) and n > 0 else None


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _others_data(folder: Path) -> tuple[tuple[int, int] | None, bool]:
    """The data (n, seed) most of the other models `welfare train` built beside `folder` record,
    and whether one of them on that data was kept only with --keep-meaningless; (None, False)
    when none records it. Their fusion.json is read as JSON only: one may be unreadable too."""
    counts: Counter[tuple[int, int]] = Counter()
    kept: set[tuple[int, int]] = set()  # the data of models kept only with --keep-meaningless
    for other in model_folders(folder.parent):
        if other.name == folder.name:
            continue
        try:
            data = json.loads((other / META_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        metrics = data.get("metrics") if isinstance(data, Mapping) else None
        if not isinstance(metrics, Mapping) or retrain_command(metrics) == TRAIN_ENGINE:
            continue
        recorded = _data(metrics)
        if recorded is not None:
            counts[recorded] += 1
            kept |= {recorded} if kept_meaningless(metrics) else set()
    if not counts:
        return None, False
    most = max(counts, key=lambda data: counts[data])
    return most, most in kept
