"""A fusion model's folder damaged: its fusion.json made unreadable as metadata (its metrics
still read, or nothing at all), or its level.json as saved before the builder was recorded;
the refusal on load, and the command it names run as written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shanyraq.errors import ModelMismatchError
from welfare.cli import app
from welfare.fusion import FusionModel

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
