"""`data split`, `data check`, `synth sheet` and `synth photos` on outputs that exist or are
being written, and on bad input: refused with one clear error, nothing lost."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from shanyraq.cli import build_app
from shanyraq.errors import OutputExistsError
from shanyraq.manifest import REQUIRED_COLUMNS, read_manifest
from tests.refusals import error_code

ROOT = Path(__file__).resolve().parents[2]
HEADER = ",".join(REQUIRED_COLUMNS)
runner = CliRunner()


def _invoke(*args: str):
    return runner.invoke(build_app(), list(args))


def _jpeg(path: Path, seed: int) -> str:
    pixels = np.random.default_rng(seed).integers(0, 255, size=(40, 40, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    path.write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def _manifest(folder: Path, n: int = 8, *, families: bool = True) -> Path:
    """n photos (two per family, or no family at all) of several grades, with their files."""
    lines = [HEADER]
    for i in range(n):
        sha = _jpeg(folder / f"p{i}.jpg", seed=i)
        family = f"F{i // 2}" if families else ""
        lines.append(f"p{i}.jpg,{sha},{family},train,kitchen,{i % 5 + 1},none,test")
    path = folder / "manifest.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- data split (M1, M11, L4) ---


def test_split_refuses_an_existing_out_unless_overwrite(tmp_path):
    manifest = _manifest(tmp_path)
    out = tmp_path / "precious.csv"
    out.write_text("precious\n", encoding="utf-8")
    result = _invoke("data", "split", str(manifest), "--out", str(out))
    assert error_code(result.exception) == "output_exists"
    assert "--overwrite" in result.exception.message
    assert out.read_text(encoding="utf-8") == "precious\n"

    assert _invoke("data", "split", str(manifest), "--out", str(out), "--overwrite").exit_code == 0
    assert len(read_manifest(out).rows) == 8


@pytest.mark.parametrize("spelling", ["same", "dotted"])
def test_split_never_writes_over_its_input(tmp_path, spelling):
    manifest = _manifest(tmp_path)
    before = manifest.read_bytes()
    out = manifest if spelling == "same" else tmp_path / "." / ".." / tmp_path.name / manifest.name
    result = _invoke("data", "split", str(manifest), "--out", str(out), "--overwrite")
    assert error_code(result.exception) == "input_file_invalid"
    assert "is the input" in result.exception.message
    assert manifest.read_bytes() == before


def test_split_refuses_rows_without_a_family_naming_their_lines(tmp_path):
    manifest = _manifest(tmp_path, families=False)
    out = tmp_path / "split.csv"
    result = _invoke("data", "split", str(manifest), "--out", str(out))
    assert error_code(result.exception) == "manifest_invalid"
    message = result.exception.message
    assert "8 row(s) have no family_id" in message and "line 2, 3, 4" in message
    assert not out.exists()


@pytest.mark.parametrize(
    ("fractions", "words"),
    [
        ("0.8,0.3,0.1", "sum to 1.2, not 1"),
        ("70,15,15", "sum to 100, not 1"),
        ("inf,0,0", "finite numbers"),
        ("nan,0.5,0.5", "finite numbers"),
        ("0.5,0.5", "give 3 fractions"),
    ],
)
def test_split_refuses_fractions_that_are_not_shares_summing_to_one(tmp_path, fractions, words):
    manifest = _manifest(tmp_path)
    out = tmp_path / "split.csv"
    result = _invoke("data", "split", str(manifest), "--out", str(out), "--fractions", fractions)
    assert result.exit_code == 2
    assert words in " ".join(result.output.split()) + str(getattr(result.exception, "message", ""))
    assert "NaN" not in result.output
    assert not out.exists()


def test_split_accepts_fractions_summing_to_one_in_floating_point(tmp_path):
    manifest = _manifest(tmp_path)
    out = tmp_path / "split.csv"
    result = _invoke(
        "data", "split", str(manifest), "--out", str(out), "--fractions", "0.7,0.2,0.1"
    )
    assert result.exit_code == 0, result.output
    assert {r.split for r in read_manifest(out).rows} <= {"train", "val", "test"}


# --- data check (L10) ---


def test_check_calls_a_manifest_without_rows_empty_not_clean(tmp_path):
    manifest = tmp_path / "header_only.csv"
    manifest.write_text(HEADER + "\n", encoding="utf-8")
    result = _invoke("data", "check", str(manifest))
    assert error_code(result.exception) == "manifest_invalid"
    assert "has no rows" in result.exception.message
    assert "clean" not in result.output


# --- synth sheet (M1, M13) ---


def test_sheet_refuses_an_existing_out_unless_overwrite(tmp_path):
    manifest = _manifest(tmp_path, 2)
    out = tmp_path / "precious.png"
    out.write_bytes(b"precious")
    result = _invoke("synth", "sheet", str(manifest), "--out", str(out))
    assert error_code(result.exception) == "output_exists"
    assert out.read_bytes() == b"precious"

    result = _invoke("synth", "sheet", str(manifest), "--out", str(out), "--overwrite")
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sheet_names_a_photo_it_cannot_decode_and_its_row(tmp_path):
    manifest = _manifest(tmp_path, 3)
    photo = tmp_path / "p1.jpg"
    photo.write_bytes(photo.read_bytes()[:300])  # cut partway through
    out = tmp_path / "sheet.png"
    result = _invoke("synth", "sheet", str(manifest), "--out", str(out))
    assert error_code(result.exception) == "image_corrupt"
    message = result.exception.message
    assert f"{manifest}, line 3: photo {photo}" in message
    assert "upload" not in message  # the service's advice to an inspector, not the CLI's
    assert not out.exists()


# --- synth photos: one run at a time per folder (M2), SIGTERM (L2) ---


def test_a_run_into_a_folder_another_run_is_writing_is_refused(tmp_path):
    from training.synth import output
    from training.synth.photos import generate_photos

    out = tmp_path / "set"
    out.mkdir()
    # another run holds the folder
    with output._folder_lock(out), pytest.raises(OutputExistsError) as refusal:
        generate_photos(2, out, seed=1, size=64)
    assert refusal.value.code == "output_busy"
    assert "another run is writing" in refusal.value.message
    assert list(out.iterdir()) == []


def test_a_set_written_meanwhile_is_not_silently_replaced(tmp_path, monkeypatch):
    """A run that finishes between another run's check and its start is kept: the other run
    is refused instead of swapping its own set over it."""
    import training.synth.photos as photos

    out = tmp_path / "set"
    real_plan = photos.plan_photos

    def plan_while_another_run_writes(*args, **kwargs):
        monkeypatch.setattr(photos, "plan_photos", real_plan)
        photos.generate_photos(2, out, seed=2, size=64)  # the other run, start to finish
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(photos, "plan_photos", plan_while_another_run_writes)
    with pytest.raises(OutputExistsError) as refusal:
        photos.generate_photos(3, out, seed=1, size=64)
    assert refusal.value.code == "output_busy"
    assert len(read_manifest(out / "manifest.csv").rows) == 2  # the other run's set, whole
    assert not [p for p in out.iterdir() if p.name.startswith(".synth-")]


_STOPPED_RUN = """
import os, signal, sys, time
from pathlib import Path
from training.synth.output import staged_output

with staged_output(Path(sys.argv[1]), {"generator": "test"}) as staging:
    (staging / "photos").mkdir()
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(60)  # not reached: the signal ends the run
"""


def test_sigterm_removes_the_staging_folder_as_ctrl_c_does(tmp_path):
    out = tmp_path / "set"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _STOPPED_RUN, str(out)], env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 128 + signal.SIGTERM, done.stderr.decode()
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert b"is as it was" in done.stderr


@pytest.mark.slow
def test_sigterm_during_rendering_leaves_no_staging_folder(tmp_path):
    """The reviewed case: `synth photos` with render workers, stopped with SIGTERM."""
    out = tmp_path / "set"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_ALBUMENTATIONS_UPDATE": "1"}
    command = [sys.executable, "-m", "shanyraq.cli", "synth", "photos", "--n", "50000"]
    proc = subprocess.Popen(
        [*command, "--out", str(out), "--size", "64"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        # Poll for the first rendered photo (a readiness check, not a timed assertion).
        while not list(out.glob(".synth-*.partial/photos/*.jpg")):
            assert proc.poll() is None and time.monotonic() < deadline, "rendering never began"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err.decode()[-2000:]
    assert not out.exists()  # the run made the folder, and took it away again
