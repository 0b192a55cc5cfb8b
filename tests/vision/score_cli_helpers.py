"""Photos to score, `shanyraq score` invoked in-process, and its output read as strict JSON,
for the score CLI tests."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from shanyraq.cli import build_app
from tests.vision.engine_fixtures import room_scene


def scene_photo(path: Path, seed: int) -> str:
    Image.fromarray(room_scene(seed, height=120, width=160)).save(path)
    return str(path)


def invoke_score(*args: str):
    return CliRunner().invoke(build_app(), ["score", *args])


def strict_json(line: str) -> dict:
    def refuse(constant: str) -> None:
        raise AssertionError(f"not strict JSON: {constant} in {line}")

    record = json.loads(line, parse_constant=refuse)
    assert isinstance(record, dict)
    return record
