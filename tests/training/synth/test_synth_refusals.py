"""`synth` on bad output folders and bad manifests: refused before anything is replaced."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shanyraq import errors
from shanyraq.manifest import REQUIRED_COLUMNS, read_manifest
from shanyraq.manifest_check import check_manifest
from training.synth.cli import app
from training.synth.families import generate_families, write_families
from training.synth.photos import generate_photos
from training.synth.sheet import contact_sheet

SIZE = 64


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under folder (hidden ones too) and a hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory) -> Path:
    """A generated set (n=3, seed=1) to copy: tests must not change it."""
    folder = tmp_path_factory.mktemp("set") / "photos"
    generate_photos(3, folder, seed=1, size=SIZE)
    return folder


def _copy(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target


# --- synth photos (M3) ---


def test_photos_refuse_another_generation_but_not_the_same_one(tmp_path, photo_set):
    out = _copy(photo_set, tmp_path / "set")
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    before = _snapshot(out)
    with pytest.raises(errors.OutputExistsError, match="--overwrite") as refusal:
        generate_photos(2, out, seed=5, size=SIZE)
    assert refusal.value.code == "output_exists"
    assert _snapshot(out) == before
    generate_photos(3, out, seed=1, size=SIZE)  # same n, seed, size and configs: same bytes
    assert _snapshot(out) == before

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "manifest.csv").write_text("path\n", encoding="utf-8")  # no synth.json
    with pytest.raises(errors.OutputExistsError):
        generate_photos(3, plain, seed=1, size=SIZE)
    assert [p.name for p in plain.iterdir()] == ["manifest.csv"]


def test_photos_overwrite_replaces_the_set_and_keeps_other_files(tmp_path, photo_set, taxonomy):
    out = _copy(photo_set, tmp_path / "set")
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    manifest = generate_photos(2, out, seed=5, size=SIZE, overwrite=True)
    rows = read_manifest(manifest).rows
    assert len(rows) == 2
    assert sorted(p.name for p in (out / "photos").iterdir()) == sorted(
        Path(r.path).name for r in rows
    )  # no photo of the old set is left beside the new manifest
    assert check_manifest(manifest, taxonomy) == []
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.csv",
        "notes.txt",
        "photos",
        "synth.json",
    ]


def test_a_failed_generation_leaves_the_folder_as_it_was(tmp_path, photo_set, monkeypatch):
    import training.synth.photos as photos_module

    def broken_run_jobs(jobs, **_):
        jobs[0].path.write_bytes(b"half a photo")
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(photos_module, "run_jobs", broken_run_jobs)
    out = _copy(photo_set, tmp_path / "set")
    before = _snapshot(out)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        generate_photos(2, out, seed=5, size=SIZE, overwrite=True)
    assert _snapshot(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["manifest.csv", "photos", "synth.json"]

    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError):
        generate_photos(2, fresh, seed=5, size=SIZE)
    assert not fresh.exists()


def test_photos_refuse_a_file_as_the_output_folder(tmp_path):
    out = tmp_path / "a_file"
    out.write_text("keep", encoding="utf-8")
    with pytest.raises(errors.InputFileError, match="is a file"):
        generate_photos(2, out, seed=0, size=SIZE)
    assert out.read_text(encoding="utf-8") == "keep"


def test_cli_photos_refuse_then_overwrite(tmp_path, photo_set):
    out = _copy(photo_set, tmp_path / "set")
    before = _snapshot(out)
    runner = CliRunner()
    args = ["photos", "--n", "2", "--out", str(out), "--seed", "5", "--size", str(SIZE)]
    result = runner.invoke(app, args)
    assert isinstance(result.exception, errors.OutputExistsError)
    assert _snapshot(out) == before
    result = runner.invoke(app, [*args, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert len(read_manifest(out / "manifest.csv").rows) == 2


# --- synth families (M3) ---


def test_families_keep_the_table_and_manifest_together(tmp_path):
    out = tmp_path / "fam"
    write_families(generate_families(2, seed=0), out, seed=0, size=SIZE)
    before = _snapshot(out)
    write_families(generate_families(2, seed=0), out, seed=0, size=SIZE)  # the same generation
    assert _snapshot(out) == before
    other = generate_families(3, seed=7)
    with pytest.raises(errors.OutputExistsError):
        write_families(other, out, seed=7, render=False)
    assert _snapshot(out) == before

    write_families(other, out, seed=7, render=False, overwrite=True)
    # the manifest and photos of seed 0 would now contradict the table: they are gone
    assert sorted(p.name for p in out.iterdir()) == ["families.csv", "synth.json"]
    assert (out / "families.csv").read_text(encoding="utf-8").count("fam-7-") == 3


# --- synth sheet (low) ---


def _header_only(folder: Path) -> Path:
    path = folder / "empty.csv"
    path.write_text(",".join(REQUIRED_COLUMNS) + "\n", encoding="utf-8")
    return path


def test_sheet_refuses_an_empty_manifest(tmp_path):
    out = tmp_path / "sheet.png"
    with pytest.raises(errors.ManifestError, match="has no photos"):
        contact_sheet(_header_only(tmp_path), out)
    assert not out.exists()


def test_sheet_refuses_a_missing_photo_by_name(tmp_path, photo_set):
    data = _copy(photo_set, tmp_path / "set")
    gone = read_manifest(data / "manifest.csv").rows[1].path
    (data / gone).unlink()
    out = tmp_path / "sheet.png"
    with pytest.raises(errors.ManifestError, match=f"1 photo\\(s\\) not found .* {gone}"):
        contact_sheet(data / "manifest.csv", out, columns=2, rows=2, thumb=32)
    assert not out.exists()


@pytest.mark.parametrize("name", ["sheet.jpg", "sheet.JPEG", "sheet"])
def test_sheet_refuses_a_name_that_is_not_png(tmp_path, photo_set, name):
    out = tmp_path / name
    with pytest.raises(errors.InputFileError, match=r"give --out a \.png name"):
        contact_sheet(photo_set / "manifest.csv", out, columns=2, rows=1, thumb=32)
    assert not out.exists()


def test_a_failed_sheet_write_keeps_the_old_sheet(tmp_path, photo_set, monkeypatch):
    import training.synth.sheet as sheet_module

    out = tmp_path / "Sheet.PNG"  # the suffix is matched in any case
    contact_sheet(photo_set / "manifest.csv", out, columns=2, rows=1, thumb=32)
    before = out.read_bytes()
    assert before[:8] == b"\x89PNG\r\n\x1a\n"

    def broken_save(sheet, path, *, colours):
        path.write_bytes(b"\x89PNG half")
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(sheet_module, "_save_png", broken_save)
    with pytest.raises(OSError, match="No space left") as failure:
        contact_sheet(photo_set / "manifest.csv", out, columns=2, rows=1, thumb=32, overwrite=True)
    assert failure.value.filename == str(out)  # the file asked for, not a temporary name
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["Sheet.PNG"]
