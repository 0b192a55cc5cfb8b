"""A fusion model's folder damaged: its fusion.json made unreadable as metadata (its metrics
still read, or nothing at all), or its level.json as saved before the builder was recorded;
the refusal on load, and the command it names run as written."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shanyraq.errors import ModelMismatchError
from tests.welfare.engine_study_helpers import SEED, N
from welfare.cli import app
from welfare.fusion import FusionModel
from welfare.real_training import ENGINE_MODEL, load_engine_trained

runner = CliRunner()
# The words for a folder that records no builder and is not named as a registered model.
TAKEN_FOR_ENGINE = "so it is taken for a model `welfare train-engine` built"


def _edit(**changes: object) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        path = folder / "fusion.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        data.update(changes)
        path.write_text(json.dumps(data), encoding="utf-8")

    return edit


def _write(content: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / "fusion.json").write_bytes(content)


# What is left of its metadata: its metrics still read, or nothing at all.
WITH_METRICS = {"unknown key": _edit(colour="red"), "bad value": _edit(platt=3)}
WITHOUT = {"not JSON": _write(b"{"), "not UTF-8": _write(b"\xff\xfe{"), "a list": _write(b"[]")}


def refusal(folder: Path, chosen) -> str:
    with pytest.raises(ModelMismatchError) as caught:
        FusionModel.load(folder, config=chosen)
    return str(caught.value)


def run(command: str, args: list[str]) -> None:
    ran = runner.invoke(app, [command, *args])
    assert ran.exit_code == 0, (command, args, ran.output, ran.exception)


def unmarked(folder: Path) -> None:
    """Make `folder` as it was saved before the builder was recorded: level.json holds only its
    boosters."""
    path = folder / "level.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({"boosters": data["boosters"]}), encoding="utf-8")


def edited(engine_model: Path, tmp_path: Path, **data: object) -> Path:
    """A copy of the engine model whose fusion.json records `data` in its metrics' data (a value
    None: the key left out)."""
    folder = Path(shutil.copytree(engine_model, tmp_path / "models" / ENGINE_MODEL))
    path = folder / "fusion.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    recorded = meta["metrics"]["data"]
    for key, value in data.items():
        if value is None:
            recorded.pop(key, None)
        else:
            recorded[key] = value
    path.write_text(json.dumps(meta), encoding="utf-8")
    return folder


def loaded(folder: Path, config: Any) -> Any:
    """The engine model of `folder` as evaluate-real loads it for the data (N, SEED)."""
    return load_engine_trained(
        folder, n=N, seed=SEED, test_fraction=config.fusion.test_fraction, config=config
    )
