"""`shanyraq score` (review 16): bad inputs among good ones each get their own line, in input
order, as strict JSON; copies are named; --explain survives long (Cyrillic) file names and the
table says where the heat maps went; the exit status is documented and kept."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from shanyraq.cli import build_app
from tests.refusals import error_code
from tests.shanyraq.cli_helpers import run_main_code_err
from tests.vision.engine_fixtures import copy_with, make_artifact
from tests.vision.score_cli_helpers import invoke_score, scene_photo, strict_json

NAME_MAX_BYTES = 255  # the longest file name ext4, XFS and APFS take
SCORED_KEYS = ["photo", "sha256", "quality", "duplicate_of", "hash", "score"]


@pytest.fixture(scope="module")
def model(tmp_path_factory, taxonomy) -> Path:
    return make_artifact(tmp_path_factory.mktemp("review16") / "model", taxonomy, size=32)


def test_bad_inputs_among_good_ones_keep_their_place_and_cost_only_themselves(
    model, tmp_path, monkeypatch
):
    import vision.io

    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("a shopping list, not a photo")
    locked = Path(scene_photo(tmp_path / "locked.png", 3))
    real = vision.io.decode_file

    def decode_file(path: Path, **kw):
        if path == locked:  # chmod 000 does not stop root, who runs the CI
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, **kw)

    monkeypatch.setattr(vision.io, "decode_file", decode_file)
    photos = [
        scene_photo(tmp_path / "a.png", 1), str(empty), str(tmp_path / "gone.jpg"), str(text),
        str(tmp_path), str(locked), scene_photo(tmp_path / "b.png", 2),
    ]  # fmt: skip
    result = invoke_score(*photos, "--model", str(model), "--json")
    assert result.exit_code == 1, result.output  # some photos were not scored
    records = [strict_json(line) for line in result.stdout.splitlines()]
    assert [r["photo"] for r in records] == photos  # one object per input, in input order
    errors = {r["photo"]: r["error"] for r in records if "error" in r}
    assert set(errors) == set(photos[1:6])
    assert errors[str(empty)] == "the file is empty; upload the photo again"
    assert "text, not a photo" in errors[str(text)]
    assert errors[str(locked)] == "cannot read the file (Permission denied)"
    assert all("\n" not in why for why in errors.values())
    for record in (records[0], records[-1]):  # the good ones are scored, with the same keys
        assert list(record) == SCORED_KEYS
        assert set(record["score"]["room"]) and record["score"]["abstain"] in (True, False)


def test_the_same_photo_twice_and_its_resized_copy_are_named_duplicates(model, tmp_path):
    original = scene_photo(tmp_path / "room.png", 5)
    resized = tmp_path / "room-small.jpg"
    Image.open(original).resize((80, 60)).save(resized, quality=85)
    other = scene_photo(tmp_path / "other.png", 6)
    photos = [original, other, original, str(resized)]
    result = invoke_score(*photos, "--model", str(model), "--json")
    assert result.exit_code == 0, result.output
    records = [strict_json(line) for line in result.stdout.splitlines()]
    assert [r["duplicate_of"] for r in records] == [[], [], [original], [original]]
    table = invoke_score(*photos, "--model", str(model)).stdout.splitlines()
    assert f"DUPLICATE of {original}" in table[3] and "DUPLICATE" not in table[1]


def test_progress_goes_to_stderr_and_stdout_stays_json_lines(model, tmp_path):
    photos = [scene_photo(tmp_path / f"p{seed}.png", seed) for seed in range(6)]
    result = invoke_score(*photos, "--model", str(model), "--json")
    assert result.exit_code == 0, result.output
    assert [strict_json(line)["photo"] for line in result.stdout.splitlines()] == photos
    assert "6/6" in result.stderr and "6/6" not in result.stdout


def test_a_long_cyrillic_file_name_does_not_end_the_run_with_explain(model, tmp_path):
    long_name = tmp_path / ("Кухня_семьи_" * 10 + ".png")  # 223 bytes: a legal name
    assert len(long_name.name.encode()) <= NAME_MAX_BYTES
    photos = [scene_photo(tmp_path / "a.png", 1), scene_photo(long_name, 2)]
    heat = tmp_path / "heat"
    explain = ["--explain", "--explain-dir", str(heat)]
    result = invoke_score(*photos, "--model", str(model), "--json", *explain)
    assert result.exit_code == 0, result.output
    records = [strict_json(line) for line in result.stdout.splitlines()]
    assert [r["photo"] for r in records] == photos
    for record in records:
        assert record["heatmaps"]
        for path in map(Path, record["heatmaps"]):
            assert path.parent == heat and path.is_file()
            assert len(path.name.encode()) <= NAME_MAX_BYTES
    assert records[1]["heatmaps"][0].startswith(str(heat / "Кухня_семьи_"))  # still findable


def test_the_table_says_where_each_photos_heat_maps_are(model, tmp_path):
    paths = []
    for folder, seed in [("a", 1), ("b", 2)]:
        (tmp_path / folder).mkdir()
        paths.append(scene_photo(tmp_path / folder / "комната.png", seed))
    heat = tmp_path / "heat"
    args = [*paths, "--model", str(model), "--explain", "--explain-dir", str(heat)]
    as_json = [strict_json(line) for line in invoke_score(*args, "--json").stdout.splitlines()]
    result = invoke_score(*args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line, record in zip(lines, as_json, strict=True):
        assert line.startswith(f"{record['photo']}:")
        shown = line.split("heat maps ", 1)[1]
        # The pattern shown finds this photo's overlays, and not the other's.
        assert sorted(glob.glob(shown)) == sorted(record["heatmaps"])


def test_exit_status_is_documented():
    result = CliRunner().invoke(build_app(), ["score", "--help"])
    text = " ".join(result.stdout.split())
    assert "Exit status: 0 every photo scored; 1 some photo not scored" in text
    assert "2 nothing scored: the model or --explain-dir refused" in text
    assert "130 Ctrl-C" in text


def test_exit_status_when_every_photo_is_scored(model, tmp_path):
    assert invoke_score(scene_photo(tmp_path / "a.png", 1), "--model", str(model)).exit_code == 0


@pytest.mark.parametrize("which", ["missing", "other_taxonomy", "a_file"])
def test_a_model_that_cannot_score_is_one_line_with_its_code_and_exit_2(
    model, tmp_path, monkeypatch, capsys, which
):
    photo = scene_photo(tmp_path / "a.png", 1)
    if which == "missing":
        folder = tmp_path / "no-such-model"
    elif which == "other_taxonomy":
        folder = copy_with(model, tmp_path, taxonomy_fingerprint="0" * 64)
    else:
        folder = tmp_path / "a.png"
    result = invoke_score(photo, "--model", str(folder))
    assert error_code(result.exception) == "model_mismatch", result.output
    assert result.stdout == ""
    code, err = run_main_code_err(monkeypatch, capsys, "score", photo, "--model", str(folder))
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("error [model_mismatch]: ") and str(folder) in line
