"""What an engine model (`welfare train-engine`'s) records of how its photos were scored, read for
the commands a refusal names (welfare/retrain_words.py): the vision model it learned from, the
render size, and the vision model's folder.

The vision model's folder is recorded absolute (`VISION_DIR`); a model saved before recorded it as
given to train-engine, maybe relative to the folder it was run from. Either is named only where it
holds the vision model the engine model learned from (`recorded_vision_folder`), a relative one
taken from the working folder; otherwise the refusal says which vision model's folder to give.
A folder is named as one word of the command, quoted for the shell where it needs it (a space:
shanyraq/shell_words.py).
The render size is named only where the command's --size takes it as recorded (a whole number in
its range, `option_value`); otherwise the refusal says to give it (`unrecorded`), as it does for
the vision model's folder. Split from welfare/retrain_words.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shanyraq.errors import ModelMismatchError
from shanyraq.shell_words import word
from vision.artifact import read_artifact
from welfare.model_data import option_value, said_after, unrecorded

# The key of an engine model's metrics["data"] naming the vision model's folder (train-engine's
# --vision, made absolute; as given, maybe relative, by a model saved before) whose scores it
# learned from.
VISION_DIR = "vision_dir"


def recorded_vision_folder(data: Mapping[str, Any]) -> Path | None:
    """The folder of the vision model the engine model of `data` learned from, as it records it
    (`VISION_DIR`; a relative one, recorded before it was made absolute, taken from the working
    folder), absolute; None where it records none, or that folder does not hold that vision model
    (now, or from here)."""
    recorded, learned = data.get(VISION_DIR), trained_vision_model(data)
    if not (isinstance(recorded, str) and recorded and learned):
        return None
    folder = Path(recorded).resolve()
    try:
        held = read_artifact(folder).model_version
    except ModelMismatchError:  # no model there
        return None
    return folder if held == learned else None


def scored_as(
    data: Mapping[str, Any],
    *,
    size: int | None,
    vision_model: str | None,
    vision_dir: Path | None = None,
    command: str = "train-engine",
) -> tuple[str, str]:
    """The options --vision and --size of `command` for scoring photos as the engine model of
    `data` was trained on (at `size`, and by the vision model of `vision_dir` or `vision_model`
    where given: those scoring them now), and what to add where the vision model's folder is not
    known (it is recorded only for the vision model the model learned from, and not by a model
    saved before it was: `recorded_vision_folder`), or the render size is not recorded as
    --size takes it."""
    learned = trained_vision_model(data)
    size = size or option_value(command, "--size", trained_render_size(data))
    options = f" --size {size}" if size else ""
    trained = "the photos it was trained on"
    no_size = "" if size else unrecorded(["--size"], trained, f"{command}'s default")
    if vision_dir is not None:
        return f" --vision {word(Path(vision_dir).resolve())}{options}", no_size
    wanted = vision_model or learned
    note = f", with --vision the folder of vision model {wanted or 'it learned from'}"
    if vision_model not in (None, learned):
        return options, said_after(note, no_size)
    folder = recorded_vision_folder(data)
    if folder is not None:
        return f" --vision {word(folder)}{options}", no_size
    if data.get(VISION_DIR):
        note += (
            f" (it was trained with --vision {word(data[VISION_DIR])}, which does not hold it here)"
        )
    return options, said_after(note, no_size)


def trained_vision_model(source: Mapping[str, Any]) -> str | None:
    """The vision model whose scores an engine-trained model learned from (older artifacts
    name it only in their `photos` sentence)."""
    recorded = source.get("vision_model")
    if isinstance(recorded, str) and recorded:
        return recorded
    found = re.match(r"vision engine (\S+) on ", str(source.get("photos", "")))
    return found.group(1) if found else None


def trained_render_size(source: Mapping[str, Any]) -> int | None:
    """The render size of the photos an engine-trained model learned from (older artifacts
    name it only in their `photos` sentence): a size recorded otherwise than as a positive whole
    number (a string, a fraction, a truth value) is not one it was rendered at, so it is read
    from that sentence, or is None."""
    recorded = source.get("size")
    if isinstance(recorded, int) and not isinstance(recorded, bool) and recorded > 0:
        return recorded
    found = re.search(r" rendered at (\d+) px", str(source.get("photos", "")))
    return int(found.group(1)) if found else None
