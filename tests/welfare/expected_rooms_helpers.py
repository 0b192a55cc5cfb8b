"""The welfare config with fusion.expected_rooms edited after the models were trained, and a
model saved with the expected rooms of its recipe changed and loaded again."""

from __future__ import annotations

import json
from pathlib import Path

from welfare.fusion import FusionModel

EDITED_ROOMS = ["kitchen"]


def edited(config, rooms=EDITED_ROOMS):
    """The config with fusion.expected_rooms edited after the models were trained."""
    return config.model_copy(
        update={"fusion": config.fusion.model_copy(update={"expected_rooms": list(rooms)})}
    )


KEEP = object()


def saved_and_loaded(model: FusionModel, folder: Path, rooms: object = KEEP) -> FusionModel:
    """`model` saved, the expected_rooms of the recipe in its fusion.json set to `rooms` (None:
    the whole recipe removed, as in a model saved before recipes were recorded), and loaded."""
    model.save(folder)
    meta_path = folder / "fusion.json"
    data = json.loads(meta_path.read_text(encoding="utf-8"))
    if rooms is None:
        data["recipe"] = None
    elif rooms is not KEEP:
        data["recipe"]["expected_rooms"] = rooms
    meta_path.write_text(json.dumps(data), encoding="utf-8")
    return FusionModel.load(folder)
