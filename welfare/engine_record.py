"""What an engine model (`welfare train-engine`'s) records of how its photos were scored, read for
the commands a refusal names (welfare/retrain_words.py): the vision model it learned from, the
render size, and the vision model's folder.

The vision model's folder is recorded absolute (`VISION_DIR`); a model saved before recorded it as
given to train-engine, maybe relative to the folder it was run from. Either is named only where it
holds the vision model the engine model learned from (`recorded_vision_folder`), a relative one
taken from the working folder; otherwise the refusal says which vision model's folder to give.
Split from welfare/retrain_words.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shanyraq.errors import ModelMismatchError
from vision.artifact import read_artifact

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
) -> tuple[str, str]:
    """The options --vision and --size for scoring photos as the engine model of `data` was
    trained on (at `size`, and by the vision model of `vision_dir` or `vision_model` where
    given: those scoring them now), and what to add where the vision model's folder is not
    known: it is recorded only for the vision model the model learned from, and not by a model
    saved before it was (`recorded_vision_folder`)."""
    learned = trained_vision_model(data)
    size = size or trained_render_size(data)
    options = f" --size {size}" if size else ""
    if vision_dir is not None:
        return f" --vision {Path(vision_dir).resolve()}{options}", ""
    wanted = vision_model or learned
    note = f", with --vision the folder of vision model {wanted or 'it learned from'}"
    if vision_model not in (None, learned):
        return options, note
    folder = recorded_vision_folder(data)
    if folder is not None:
        return f" --vision {folder}{options}", ""
    if data.get(VISION_DIR):
        note += f" (it was trained with --vision {data[VISION_DIR]}, which does not hold it here)"
    return options, note


def trained_vision_model(source: Mapping[str, Any]) -> str | None:
    """The vision model whose scores an engine-trained model learned from (older artifacts
    name it only in their `photos` sentence)."""
    if source.get("vision_model"):
        return str(source["vision_model"])
    found = re.match(r"vision engine (\S+) on ", str(source.get("photos", "")))
    return found.group(1) if found else None


def trained_render_size(source: Mapping[str, Any]) -> int | None:
    """The render size of the photos an engine-trained model learned from (older artifacts
    name it only in their `photos` sentence)."""
    if source.get("size"):
        return int(source["size"])
    found = re.search(r" rendered at (\d+) px", str(source.get("photos", "")))
    return int(found.group(1)) if found else None
