"""Review of `shanyraq data` (check, split) and the contact sheet: every problem listed, the
split's paths and counts as the manifest gave them, captions that stay under their photo."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from shanyraq.manifest import ManifestRow, read_manifest
from tests.shanyraq.cli_helpers import run_main
from tests.shanyraq.manifest_helpers import file_with_digest, manifest_of_lines
from training.synth.sheet import _caption, _text_width, contact_sheet

# --- data check ---


def test_check_lists_a_malformed_row_with_every_other_problem(tmp_path, monkeypatch, capsys):
    """A row whose condition is not a number is one problem among the others, not the end of
    the check: the rows after it are still checked and the exit status is 1."""
    good = file_with_digest(tmp_path, "a.jpg", b"a")
    file_with_digest(tmp_path, "b.jpg", b"b")
    manifest = manifest_of_lines(
        tmp_path,
        [
            f"a.jpg,{good},F1,train,kitchen,abc,none,t",
            f"b.jpg,{'0' * 64},F2,train,kichen,3,none,t",
        ],
    )
    code, out, err = run_main(monkeypatch, capsys, "data", "check", str(manifest))
    assert code == 1, err
    assert "[malformed_row] line 2: condition 'abc'" in out
    assert "[unknown_label] line 3: room 'kichen'" in out
    assert "[hash_mismatch] line 3:" in out
    assert "3 problem(s)" in err


def test_check_still_refuses_a_manifest_of_a_header_only(tmp_path, monkeypatch, capsys):
    manifest = manifest_of_lines(tmp_path, [])
    code, _, err = run_main(monkeypatch, capsys, "data", "check", str(manifest))
    assert code == 2 and err.startswith("error [manifest_invalid]: ") and "no rows" in err


# --- data split ---


def test_split_counts_ids_differing_in_case_as_one_family(tmp_path, monkeypatch, capsys):
    """The split keeps "F1" and "f1" together as one home; its summary counts them once."""
    lines = []
    for name, family in (("p0", "F1"), ("p1", "f1"), ("p2", "F2"), ("p3", "F3")):
        sha = file_with_digest(tmp_path, f"{name}.jpg", name.encode())
        lines.append(f"{name}.jpg,{sha},{family},train,kitchen,3,none,t")
    manifest = manifest_of_lines(tmp_path, lines)
    out = tmp_path / "split.csv"
    args = ("data", "split", str(manifest), "--out", str(out), "--fractions", "1,0,0")
    code, stdout, err = run_main(monkeypatch, capsys, *args)
    assert code == 0, err
    assert {r.split for r in read_manifest(out)} == {"train"}
    assert "train:      4 photos,     3 families" in stdout


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_split_keeps_a_linked_photo_under_its_own_name(tmp_path, monkeypatch, capsys):
    """A photo that is a link (a DVC cache, a store of files named by hash) is written to the
    split manifest under the name the manifest gave it, not as the path of its target."""
    store = tmp_path / "store"
    store.mkdir()
    sha = file_with_digest(store, "9f86d081.bin", b"pixels")
    data = tmp_path / "data"
    data.mkdir()
    (data / "kitchen.jpg").symlink_to(store / "9f86d081.bin")
    manifest = manifest_of_lines(data, [f"kitchen.jpg,{sha},F1,train,kitchen,3,none,t"])
    out = tmp_path / "splits" / "split.csv"
    code, _, err = run_main(monkeypatch, capsys, "data", "split", str(manifest), "--out", str(out))
    assert code == 0, err
    [row] = read_manifest(out).rows
    assert row.path == os.path.join("..", "data", "kitchen.jpg")
    assert row.resolve(out.parent.resolve()).is_file()


# --- the contact sheet ---


def _row(**labels: object) -> ManifestRow:
    values: dict[str, object] = {
        "path": "p.png",
        "sha256": "",
        "family_id": "F1",
        "split": "train",
        "room": "kitchen",
        "condition": 3,
        "signs": frozenset(),
        "source": "t",
        **labels,
    }
    return ManifestRow(**values)  # type: ignore[arg-type]


def _photo_manifest(root: Path, rows: list[tuple[str, str, str]]) -> Path:
    """Manifest of grey photos: (room, condition, signs cell) per photo, one family each."""
    lines = []
    for i, (room, condition, signs) in enumerate(rows):
        path = root / f"p{i}.png"
        Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(path)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{path.name},{sha},F{i},train,{room},{condition},{signs},t")
    return manifest_of_lines(root, lines)


def test_a_long_caption_stays_under_its_own_photo(tmp_path):
    """At --thumb 64 "living_room c3" is wider than the thumbnail; it used to run on under the
    next photo's cell (here left empty, so any ink there is the first caption's)."""
    manifest = _photo_manifest(tmp_path, [("living_room", "3", "damp_mould;structural_damage")])
    out = contact_sheet(manifest, tmp_path / "sheet.png", columns=2, rows=1, thumb=64)
    image = cv2.imread(str(out))
    assert image.shape[:2][1] == 128
    caption = image[64:, :64]
    assert caption.min() < 128  # the caption is drawn
    assert image[:, 64:].min() == 255  # and nothing of it under the empty second cell
    # The room name is what gets cut, not the grade after it.
    room_line = _caption(_row(room="living_room", condition=3), 64 - 6)[0]
    assert room_line.endswith(".. c3") and _text_width(room_line) <= 64 - 6


def test_signs_that_do_not_fit_are_counted_not_dropped():
    """A photo with every sign: those the caption has no room for are counted ("+N")."""
    signs = frozenset(
        (
            "damp_mould",
            "structural_damage",
            "unfinished_surfaces",
            "broken_window",
            "overcrowding",
            "solid_fuel_stove",
            "premium_appliances",
            "premium_finishes",
        )
    )
    for thumb in (32, 64, 128):
        lines = _caption(_row(signs=signs), thumb - 6)
        words = ",".join(lines[1:]).split(",")
        counted = [w for w in words if w.startswith("+")]
        assert len(counted) == 1, lines
        shown = [w for w in words if not w.startswith("+")]
        assert len(shown) + int(counted[0][1:]) == len(signs), lines
        assert all(_text_width(line) <= thumb - 6 for line in lines), lines


def test_unlabelled_labels_are_not_shown_as_none_or_as_no_signs():
    """A room or signs not labelled read "?"; "-" is kept for "labelled, no sign"."""
    unlabelled = _caption(_row(room=None, condition=None, signs=None), 122)
    no_signs = _caption(_row(signs=frozenset()), 122)
    assert unlabelled[0] == "?" and "None" not in " ".join(unlabelled)
    assert no_signs[1] == "-"
    assert unlabelled[1] != no_signs[1]
