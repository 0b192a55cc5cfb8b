"""`shanyraq score` (review, part 2): lines come out a batch at a time so Ctrl-C keeps them,
progress covers the model too, and an --explain-dir that cannot hold heat maps is refused
before any photo is scored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from shanyraq.cli import build_app
from tests.refusals import must_not_run
from tests.vision.engine_fixtures import make_artifact, room_scene

BATCH = 2  # photos per model call here, so that five photos make three batches


@pytest.fixture(scope="module")
def model(tmp_path_factory, taxonomy) -> Path:
    return make_artifact(tmp_path_factory.mktemp("score") / "model", taxonomy, size=32)


@pytest.fixture
def small_batches(monkeypatch):
    import vision.engine

    config = vision.engine.get_engine_config().model_copy(update={"max_photos_per_call": BATCH})
    monkeypatch.setattr(vision.engine, "get_engine_config", lambda: config)


def _photos(folder: Path, n: int) -> list[str]:
    paths = []
    for seed in range(n):
        paths.append(str(folder / f"room{seed}.png"))
        Image.fromarray(room_scene(seed, height=120, width=160)).save(paths[-1])
    return paths


def _score(*args: str):
    return CliRunner().invoke(build_app(), ["score", *args])


def test_ctrl_c_keeps_the_lines_of_the_batches_already_scored(
    model, tmp_path, monkeypatch, small_batches
):
    import vision.io

    photos = _photos(tmp_path, 5)
    real = vision.io.decode_file

    def decode_file(path: Path, **kw):
        if str(path) == photos[4]:  # Ctrl-C while the third batch is decoded
            raise KeyboardInterrupt
        return real(path, **kw)

    monkeypatch.setattr(vision.io, "decode_file", decode_file)
    result = _score(*photos, "--model", str(model), "--json")
    assert result.exit_code == 130
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["photo"] for r in lines] == photos[:4]
    assert all("score" in r for r in lines)
    error = result.stderr.splitlines()[-1]
    assert error.startswith("error [interrupted]: stopped by Ctrl-C after 4 of 5 photo(s)")
    assert f"1 not scored, from {photos[4]} on" in error


def test_progress_counts_photos_scored_by_the_model(model, tmp_path, small_batches):
    photos = _photos(tmp_path, 5)
    result = _score(*photos, "--model", str(model))
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 5
    assert "scoring" in result.stderr and "5/5" in result.stderr  # not only the decoding
    assert "model" in result.stderr  # the model's phase is named while it runs


def test_a_duplicate_is_found_across_batches(model, tmp_path, small_batches):
    photos = _photos(tmp_path, 3)
    copy = tmp_path / "copy-of-room0.jpg"
    Image.open(photos[0]).save(copy, quality=80)
    result = _score(*photos, str(copy), "--model", str(model), "--json")
    records = {r["photo"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert records[str(copy)]["duplicate_of"] == [photos[0]]  # batch 2 names batch 1's photo


@pytest.mark.parametrize("where", ["file", "under_a_file"])
def test_an_explain_dir_that_cannot_hold_heat_maps_is_refused_before_scoring(
    model, tmp_path, monkeypatch, where
):
    import vision.engine

    monkeypatch.setattr(vision.engine.Engine, "load", must_not_run("Engine.load"))
    photo = _photos(tmp_path, 1)[0]
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    out = a_file if where == "file" else a_file / "heat"
    result = _score(photo, "--model", str(model), "--explain", "--explain-dir", str(out))
    code = getattr(result.exception, "code", None)
    assert code == "output_path_invalid", result.output
    message = result.exception.message  # type: ignore[union-attr]
    assert str(out) in message and f"{a_file} is a file" in message
    assert a_file.read_text() == "not a folder"
