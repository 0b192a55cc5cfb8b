"""`shanyraq score`: bad files of any kind cost only themselves; heat maps never overwrite each
other; blank frames are nobody's duplicate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.vision.engine_fixtures import make_artifact, room_scene
from tests.vision.io_helpers import rational_orientation
from vision.cli import app


@pytest.fixture(scope="module")
def model(tmp_path_factory, taxonomy) -> Path:
    return make_artifact(tmp_path_factory.mktemp("cli") / "model", taxonomy, size=32)


def _score(*args: str) -> tuple[int, dict[str, dict]]:
    result = CliRunner().invoke(app, ["score", *args, "--json"])
    records = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, {r["photo"]: r for r in records}


def test_malformed_orientation_and_unexpected_errors_cost_one_photo(model, tmp_path, monkeypatch):
    import vision.io

    good = tmp_path / "good.png"
    Image.fromarray(room_scene(1, height=300, width=400)).save(good)
    nan = tmp_path / "nan.jpg"  # EXIF orientation 6/0: NaN, which used to end the run
    nan.write_bytes(rational_orientation(6, 0))
    odd = tmp_path / "odd.png"
    Image.fromarray(room_scene(2, height=300, width=400)).save(odd)
    real = vision.io.decode_file

    def decode_file(path: Path, **kw):
        if path == odd:
            raise RuntimeError("codec bug")
        return real(path, **kw)

    monkeypatch.setattr(vision.io, "decode_file", decode_file)
    code, records = _score(str(good), str(nan), str(odd), "--model", str(model))
    assert code == 1  # one photo was not scored
    assert "score" in records[str(good)] and "score" in records[str(nan)]
    assert records[str(odd)]["error"] == "RuntimeError: codec bug"


def test_missing_files_and_folders_are_named_in_words(model, tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(room_scene(1, height=300, width=400)).save(good)
    code, records = _score(
        str(good), str(tmp_path / "gone.jpg"), str(tmp_path), "--model", str(model)
    )
    assert code == 1
    assert "score" in records[str(good)]
    assert records[str(tmp_path / "gone.jpg")]["error"] == "no such file"
    assert records[str(tmp_path)]["error"] == "a folder, not a photo"


def test_heat_maps_of_photos_with_one_name_do_not_overwrite_each_other(model, tmp_path):
    paths = []
    for folder, seed in [("a", 1), ("b", 2)]:
        (tmp_path / folder).mkdir()
        paths.append(tmp_path / folder / "room.jpg")
        Image.fromarray(room_scene(seed, height=120, width=160)).save(paths[-1])
    heat = tmp_path / "heat"
    code, records = _score(
        *map(str, paths), "--model", str(model), "--explain", "--explain-dir", str(heat)
    )
    assert code == 0
    maps = [set(records[str(p)]["heatmaps"]) for p in paths]
    assert maps[0] and maps[1] and not maps[0] & maps[1]
    assert len(list(heat.iterdir())) == len(maps[0]) + len(maps[1])


def test_blank_frames_are_nobodys_duplicate(model, tmp_path):
    names = []
    for value in (0, 128, 255):
        names.append(str(tmp_path / f"blank{value}.png"))
        Image.fromarray(np.full((480, 640, 3), value, np.uint8)).save(names[-1])
    scene = room_scene(3, height=480, width=640)
    names += [str(tmp_path / "room.png"), str(tmp_path / "room-copy.jpg")]
    Image.fromarray(scene).save(names[-2])
    Image.fromarray(scene).save(names[-1], quality=70)
    _, records = _score(*names, "--model", str(model))
    assert all(records[n]["duplicate_of"] == [] for n in names[:3])
    assert records[names[0]]["quality"]["reasons"] == ["uniform"]
    assert records[names[-1]]["duplicate_of"] == [names[-2]]  # real copies are still found
