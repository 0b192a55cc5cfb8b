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
- Its level head's file, level.json (the cumulative objective's, which survives a damaged
  fusion.json): a model saved since records there the command that built it and its name
  (`model_folder.builder_note`), so an engine model is told `welfare train-engine` whatever its
  folder is named, and a `welfare train` model in a folder since renamed is told the `welfare
  train` command that builds it again as --out/<its name>, then to move it back. A folder saved
  before, or with a level head of another kind, is worded from its folder as above, but for one
  named as no registered model whose metrics record training data of `welfare train` (photo
  scores simulated): that command, as --out/<the name its fusion.json still records, or the
  reader gives>, then moved back.

What cannot be known is said: which options to give, and why.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shanyraq.shell_words import word
from welfare.criteria import MIN_RECIPE_FAMILIES
from welfare.heads import CumulativeLightGBMHead
from welfare.model_data import keep_option, kept_meaningless, recorded_pair
from welfare.model_folder import (
    BUILDERS,
    BUILT_BY,
    META_FILE,
    MODEL_NAME,
    TRAIN,
    TRAIN_ENGINE,
    model_folders,
    retrain_command,
)
from welfare.retrain_words import train_engine_again

# The file that records which command built a model, beside its level head's boosters.
LEVEL_FILE = f"level{CumulativeLightGBMHead.suffix}"
# What `welfare train` records its models' photo scores came from (metrics data `photos`).
SIMULATED = "welfare.simulate"


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

    registered = folder.name in list_models()
    built_by, name = recorded_builder(folder)
    if built_by == TRAIN_ENGINE:
        named = "" if registered else f", and its folder is not named as a model `{TRAIN}` saves"
        return _engine_again(
            folder, f"its {LEVEL_FILE} records that `welfare train-engine` built it{named}"
        )
    if built_by == TRAIN and name in list_models():
        return _train_again(folder, left, name=name)
    if not registered and built_by is None and _simulated(left.metrics):
        return _renamed_again(folder, left, data)
    if not registered:
        why = (
            f"its folder is not named as a model `{TRAIN}` saves, {', '.join(list_models())}, "
            "so it is taken for a model `welfare train-engine` built"
        )
        return _engine_again(folder, why) + (
            "; or, had `welfare train` built it in a folder since renamed, run that command "
            "again with its --out and --model (it saves the model as --out/<its name>, never here)"
        )
    return _train_again(folder, left, name=None)


def recorded_builder(folder: Path) -> tuple[str | None, str | None]:
    """The command that built the model in `folder` and the model's name, as its level head's
    file records them (`model_folder.builder_note`); None for what it does not record (saved
    before they were recorded, or a head of another kind) or cannot be read."""
    try:
        data = json.loads((Path(folder) / LEVEL_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # missing, not UTF-8 or not JSON
        return None, None
    if not isinstance(data, Mapping):
        return None, None
    built_by, name = data.get(BUILT_BY), data.get(MODEL_NAME)
    command = BUILDERS.get(built_by) if isinstance(built_by, str) else None
    return command, (name if command and isinstance(name, str) and name else None)


def _engine_again(folder: Path, why: str) -> str:
    """The `welfare train-engine` command for the engine model in `folder`, whose options no
    longer recorded are left to the reader, and `why` it is taken for one."""
    return (
        f"; train the model again with `{TRAIN_ENGINE} --out {word(folder)} --overwrite`, giving "
        "--vision, --size, --n, --seed, --families and --subset-seed as it was trained: its "
        f"{META_FILE} no longer records them, and the defaults train another model ({why})"
    )


def _simulated(metrics: Mapping[str, Any]) -> bool:
    """Whether `metrics` record training data as `welfare train` records them (the command that
    builds them again, `retrain_command`, says so from photo scores simulated by SIMULATED),
    rather than recording none to tell it by."""
    data = metrics.get("data")
    simulated = isinstance(data, Mapping) and data.get("photos") == SIMULATED
    return simulated and retrain_command(metrics) == TRAIN


def _renamed_again(folder: Path, left: _Left, data: object) -> str:
    """The `welfare train` command for a model its metrics say `welfare train` built (`_simulated`)
    in `folder`, named as no model it saves (one since renamed) and recording no builder (saved
    before it was recorded): as --out/<the name its fusion.json still records>, then moved back;
    where it records no registered name, the reader gives --model."""
    from welfare.fusion import list_models  # it imports welfare.retrain_words, as this does

    name = data.get("name") if isinstance(data, Mapping) else None
    by = f"its {META_FILE} records training data of `welfare train` (photo scores of {SIMULATED})"
    if isinstance(name, str) and name in list_models():
        return _train_again(folder, left, name=name, by=f"{by} and the name {name}")
    out = folder.parent
    said, keep, unknown = _data_options(folder, left)
    return (
        f"; train the model again with `{TRAIN} --out {word(out)}{said}{keep}`{unknown}, and with "
        f"--model the name it was saved as, one of {', '.join(list_models())} ({by} in a folder "
        f"since renamed, but no name of a model it saves), once {folder}, and {out}/<that name> "
        f"where there is one, are moved out of {out} (it refuses to train beside a model it "
        "cannot read, and saves the model as --out/<its name>; without --model it trains every "
        f"model), then move {out}/<that name> to {folder}"
    )


def _data_options(folder: Path, left: _Left) -> tuple[str, str, str]:
    """The options --n and --seed (with a space before each) of the data the model in `folder`
    was trained on, as its metrics record them or, where they do not, the folder's other models
    trained by `welfare train` agree; --keep-meaningless where it needs it; and what to add where
    neither records the data."""
    recorded, kept = recorded_pair(left.metrics), kept_meaningless(left.metrics)
    if recorded is None:  # the data the folder's other models agree on, which `train` needs
        recorded, kept = _others_data(folder)
    said = f" --n {recorded[0]} --seed {recorded[1]}" if recorded else ""
    keep = keep_option(recorded[0] if recorded else MIN_RECIPE_FAMILIES, asked=kept)
    unknown = (
        ""
        if recorded
        else (
            f", with --n and --seed of the data it was trained on (the recipe's if left out), "
            f"which neither its {META_FILE} nor another model in {folder.parent} records"
        )
    )
    return said, keep, unknown


def _train_again(folder: Path, left: _Left, *, name: str | None, by: str | None = None) -> str:
    """The `welfare train` command for the model in `folder`, one of its --out's models: the
    model `name` its level head's file records `welfare train` built (then sure of the command;
    in a folder of another name, one since renamed; `by`: what tells it, by default that file),
    or, where none is recorded, the model its folder is named as."""
    out, model = folder.parent, name or folder.name
    renamed = model != folder.name
    said, keep, unknown = _data_options(folder, left)
    overwrite = "" if renamed else " --overwrite"  # renamed: the model is saved beside it
    command = f"`{TRAIN} --out {word(out)}{said} --model {word(model)}{overwrite}{keep}`{unknown}"
    if renamed:
        target, taken = out / model, (out / model).exists()
        moved = f"{folder} and {target} are" if taken else f"{folder} is"
        saves = f", and saves the model to {target}" if taken else ""
        command += (
            f", once {moved} moved out of {out} (it refuses to train beside a model it cannot "
            f"read{saves}), then move {target} to {folder}: "
            f"{by or f'its {LEVEL_FILE} records that `welfare train` built it as {model}'}, in a "
            "folder since renamed, and that command saves a model only as --out/<its name>"
        )
    elif name is None and recorded_pair(left.metrics) is None:
        command += (
            f" (or, had `welfare train-engine` built it, `{TRAIN_ENGINE} --out {word(folder)} "
            "--overwrite` with the options it was trained with)"
        )
    return f"; train the model again with {command}"


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
        recorded = recorded_pair(metrics)
        if recorded is not None:
            counts[recorded] += 1
            kept |= {recorded} if kept_meaningless(metrics) else set()
    if not counts:
        return None, False
    most = max(counts, key=lambda data: counts[data])
    return most, most in kept
