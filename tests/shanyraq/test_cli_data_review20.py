"""Review 20 of `shanyraq data` and the contact sheet: the manifest read once, absolute photo
paths reported, photos letterboxed rather than squashed, and lines named as an editor shows
them in `data split` and `synth sheet` refusals."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from shanyraq.errors import ImageError, ManifestError
from shanyraq.manifest_check import check_manifest
from tests.shanyraq.cli_helpers import run_main
from tests.shanyraq.manifest_helpers import file_with_digest, manifest_of_lines
from training.synth.sheet import contact_sheet

# --- data check ---


def test_data_check_reads_the_manifest_once(tmp_path, monkeypatch, capsys):
    """It read it three times (lines, records, then again to tell "no rows" from "clean"):
    three times the work on a large manifest, and reads that could disagree."""
    sha = file_with_digest(tmp_path, "a.jpg", b"a")
    manifest = manifest_of_lines(tmp_path, [f"a.jpg,{sha},F1,train,kitchen,3,none,t"])
    reads: list[Path] = []
    real_read_bytes = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == manifest.name:
            reads.append(self)
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    code, out, err = run_main(monkeypatch, capsys, "data", "check", str(manifest))
    assert code == 0 and "clean" in out, err
    assert len(reads) == 1


def test_a_manifest_rewritten_during_the_check_is_checked_as_first_read(
    tmp_path, monkeypatch, capsys
):
    """A row added between the reads made the check give up ("changed while it was being
    checked"); read once, the check is of the manifest as it was read."""
    sha = file_with_digest(tmp_path, "a.jpg", b"a")
    manifest = manifest_of_lines(tmp_path, [f"a.jpg,{sha},F1,train,kitchen,3,none,t"])
    real_read_bytes = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        data = real_read_bytes(self)
        if self.name == manifest.name:  # another row appears after each read
            with self.open("ab") as handle:
                handle.write(f"a.jpg,{sha},F1,train,kitchen,3,none,t\n".encode())
        return data

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    code, out, err = run_main(monkeypatch, capsys, "data", "check", str(manifest))
    assert code == 0 and "clean" in out, err


def test_a_header_only_manifest_is_refused_by_the_library_too(tmp_path, taxonomy):
    with pytest.raises(ManifestError, match="has no rows"):
        check_manifest(manifest_of_lines(tmp_path, []), taxonomy)


def test_an_absolute_photo_path_is_reported(tmp_path, monkeypatch, capsys):
    """The loaders take an absolute path as it is, whatever the manifest's folder: the
    dataset then breaks when moved or copied, and `data check` called it clean."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sha = file_with_digest(elsewhere, "a.jpg", b"a")
    data = tmp_path / "data"
    data.mkdir()
    manifest = manifest_of_lines(data, [f"{elsewhere / 'a.jpg'},{sha},F1,train,kitchen,3,none,t"])
    code, out, err = run_main(monkeypatch, capsys, "data", "check", str(manifest))
    assert code == 1, out
    assert out.startswith(f"[absolute_path] line 2: {elsewhere / 'a.jpg'} is an absolute path")
    assert "relative to the manifest's folder" in out
    assert "1 problem(s): 1 absolute_path" in err


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_relative_paths_out_of_the_folder_stay_clean(tmp_path, taxonomy):
    """`data split --out` elsewhere and the Label Studio export write "../" paths, and a photo
    may be a link into a store of files: the manifests the project writes stay clean."""
    store = tmp_path / "store"
    store.mkdir()
    sha = file_with_digest(store, "a.bin", b"a")
    sub = tmp_path / "split"
    sub.mkdir()
    (sub / "linked.jpg").symlink_to(store / "a.bin")
    lines = [f"../store/a.bin,{sha},F1,train,kitchen,3,none,t"]
    lines.append(f"linked.jpg,{sha},F1,train,kitchen,3,none,t")
    problems = check_manifest(manifest_of_lines(sub, lines), taxonomy)
    assert [p.kind for p in problems] == ["duplicate_photo"]  # one file, listed twice


# --- data split ---


def test_split_names_the_line_of_a_row_without_family_as_an_editor_shows_it(
    tmp_path, monkeypatch, capsys
):
    """A blank line above the row made the refusal name the line before it."""
    sha = file_with_digest(tmp_path, "a.jpg", b"a")
    manifest = manifest_of_lines(tmp_path, ["", f"a.jpg,{sha},,train,kitchen,3,none,t"])
    out = tmp_path / "split.csv"
    code, _, err = run_main(monkeypatch, capsys, "data", "split", str(manifest), "--out", str(out))
    assert code == 2 and "1 row(s) have no family_id (line 3)" in err, err


# --- the contact sheet ---


@pytest.mark.parametrize(("height", "width"), [(40, 80), (80, 40)], ids=["wide", "tall"])
def test_a_photo_that_is_not_square_is_letterboxed_not_squashed(tmp_path, height, width):
    """A 2:1 photo filled the whole square thumbnail, stretched to 1:1."""
    path = tmp_path / "p.png"
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(path)
    manifest = manifest_of_lines(tmp_path, [f"p.png,{_sha(path)},F1,train,kitchen,3,none,t"])
    sheet = cv2.imread(
        str(contact_sheet(manifest, tmp_path / "s.png", columns=1, rows=1, thumb=64))
    )
    ys, xs = np.nonzero(sheet[:64, :64].max(axis=2) < 128)  # the photo's dark pixels
    shown_h, shown_w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    assert (shown_h, shown_w) == ((32, 64) if width > height else (64, 32))
    assert (ys.min(), xs.min()) == ((16, 0) if width > height else (0, 16))  # centred
    assert sheet[:64, :64].max() == 255  # the rest of the square is the sheet's white


def test_an_unreadable_photo_is_named_by_its_line_as_an_editor_shows_it(tmp_path):
    (tmp_path / "p.png").write_bytes(b"not an image")
    sha = _sha(tmp_path / "p.png")
    manifest = manifest_of_lines(tmp_path, ["", f"p.png,{sha},F1,train,kitchen,3,none,t"])
    with pytest.raises(ImageError, match=r"manifest\.csv, line 3: photo "):
        contact_sheet(manifest, tmp_path / "s.png", columns=1, rows=1)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
