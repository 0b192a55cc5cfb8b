"""Steps shared by the tests of the welfare engine commands (each run from its own temporary
folder: `in_tmp` of tests/welfare/conftest.py): engine models moved where a refusal says, their
commands run as written, and what the study takes checked."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from typer.testing import CliRunner

from tests.welfare.engine_study_helpers import SIZE
from welfare.cli import app
from welfare.model_folder import read_meta
from welfare.real_training import ENGINE_MODEL, load_engine_trained

runner = CliRunner()
# "move NAME to FOLDER, then `COMMAND`", as a refusal sends each engine model to its own folder.
MOVE_ENGINE = re.compile(r"move (\S+) to (\S+), then `")


def moved_as_said(text: str, out: Path) -> dict[str, Path]:
    """Move each engine model of `out` where `text` says to; their folders, by name."""
    said = {name: Path(to) for name, to in MOVE_ENGINE.findall(text)}
    assert said, text
    for name, to in said.items():
        to.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(out / name, to)
    return said


def run_train_engine(args: list[str]) -> None:
    """Run `welfare train-engine ARGS`, as written, through welfare/cli.py."""
    ran = runner.invoke(app, ["train-engine", *args])
    assert ran.exit_code == 0, (args, ran.output, ran.exception)


def accepted(folder: Path, chosen, *, n: int, seed: int) -> None:
    """The engine model in `folder` is what the study takes for data (n, seed) at SIZE px."""
    vision = read_meta(folder).metrics["data"]["vision_model"]
    model = load_engine_trained(
        folder, n=n, seed=seed, vision_model=vision, size=SIZE,
        test_fraction=chosen.fusion.test_fraction, config=chosen,
    )  # fmt: skip
    data = model.meta.metrics["data"]
    assert (data["size"], data["train_families"], data["subset_seed"]) == (SIZE, 6, 3), data


def with_engine(pair: Path, engine_model: Path, tmp_path: Path) -> Path:
    """A copy of `pair` (tmp_path/wf) with the engine model copied in beside it."""
    out = Path(shutil.copytree(pair, tmp_path / "wf"))
    shutil.copytree(engine_model, out / ENGINE_MODEL)
    return out
