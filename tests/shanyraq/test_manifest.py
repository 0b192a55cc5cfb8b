"""Manifest check (one fixture per problem kind), splits and the `data` CLI."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shanyraq.cli import build_app
from shanyraq.errors import ManifestError
from shanyraq.manifest import REQUIRED_COLUMNS, ManifestRow, read_manifest, write_manifest
from shanyraq.manifest_check import check_manifest
from shanyraq.splits import split_rows
from tests.shanyraq.manifest_helpers import clean_rows, write_rows


def test_clean_manifest_passes(tmp_path, taxonomy):
    assert check_manifest(write_rows(tmp_path, clean_rows(tmp_path)), taxonomy) == []


def _missing_file(rows, root):
    (root / rows[0]["path"]).unlink()


def _hash_mismatch(rows, root):
    (root / rows[1]["path"]).write_bytes(b"edited after hashing")


def _unknown_room(rows, root):
    rows[0]["room"] = "garage"


def _unknown_sign(rows, root):
    rows[0]["signs"] = "damp_mould;gold_taps"


def _condition_out_of_range(rows, root):
    rows[0]["condition"] = "9"


def _malformed_condition(rows, root):
    rows[0]["condition"] = "good"


def _not_dwelling_with_condition(rows, root):
    rows[0]["room"] = "not_dwelling"


def _family_in_two_splits(rows, root):
    rows[0]["split"] = "test"  # F0 is otherwise train


def _photo_in_two_splits(rows, root):
    rows[-1]["sha256"] = rows[0]["sha256"]  # same bytes claimed in train and test
    (root / rows[-1]["path"]).write_bytes((root / rows[0]["path"]).read_bytes())


def _bad_split(rows, root):
    rows[0]["split"] = "holdout"


@pytest.mark.parametrize(
    ("damage", "kind"),
    [
        (_missing_file, "missing_file"),
        (_hash_mismatch, "hash_mismatch"),
        (_unknown_room, "unknown_label"),
        (_unknown_sign, "unknown_label"),
        (_condition_out_of_range, "unknown_label"),
        (_malformed_condition, "malformed_row"),
        (_not_dwelling_with_condition, "label_conflict"),
        (_family_in_two_splits, "family_split_leak"),
        (_photo_in_two_splits, "photo_split_leak"),
        (_bad_split, "invalid_split"),
    ],
)
def test_each_problem_is_detected(tmp_path, taxonomy, damage, kind):
    rows = clean_rows(tmp_path)
    damage(rows, tmp_path)
    problems = check_manifest(write_rows(tmp_path, rows), taxonomy)
    assert kind in {p.kind for p in problems}, problems


def test_missing_columns_raise(tmp_path, taxonomy):
    path = tmp_path / "m.csv"
    path.write_text("path,sha256\nx.jpg,abc\n")
    with pytest.raises(ManifestError, match="missing column"):
        check_manifest(path, taxonomy)


def test_roundtrip_keeps_labels_and_extras(tmp_path):
    rows = [
        ManifestRow(
            "a.jpg", "0" * 64, "F1", "train", "kitchen", 3, frozenset(), "synthetic", {"style": "7"}
        ),
        ManifestRow("b.jpg", "1" * 64, "F1", "train", None, None, None, "field"),
        ManifestRow(
            "c.jpg",
            "2" * 64,
            "F2",
            "val",
            "bedroom",
            2,
            frozenset({"damp_mould", "overcrowding"}),
            "synthetic",
            {"style": "3"},
        ),
    ]
    path = write_manifest(tmp_path / "m.csv", rows)
    again = read_manifest(path)
    assert again.rows == rows
    assert again.rows[0].extra == {"style": "7"}
    assert again.rows[0].signs == frozenset() and again.rows[1].signs is None


def _synthetic_rows(n_families: int) -> list[ManifestRow]:
    rows = []
    for f in range(n_families):
        for p in range(1 + f % 4):
            rows.append(
                ManifestRow(
                    f"{f}_{p}.jpg",
                    f"{f:032d}{p:032d}",
                    f"F{f}",
                    "",
                    "kitchen",
                    1 + f % 5,
                    frozenset(),
                    "synthetic",
                )
            )
    return rows


def test_split_groups_families_and_is_deterministic():
    rows = _synthetic_rows(200)
    first = split_rows(rows, seed=3)
    assert first == split_rows(rows, seed=3)
    assert first != split_rows(rows, seed=4)
    splits_of = defaultdict(set)
    for row in first:
        splits_of[row.family_id].add(row.split)
    assert all(len(s) == 1 for s in splits_of.values())


def test_split_is_stratified_by_label():
    rows = _synthetic_rows(500)
    split = split_rows(rows, fractions=(0.6, 0.2, 0.2), seed=0)
    families = {r.family_id: r for r in split}
    for grade in range(1, 6):
        members = [r for r in families.values() if r.condition == grade]
        test_share = sum(r.split == "test" for r in members) / len(members)
        assert abs(test_share - 0.2) < 0.03, (grade, test_share)


def test_cli_check_and_split(tmp_path):
    runner = CliRunner()
    app = build_app()
    manifest = write_rows(tmp_path, clean_rows(tmp_path, n_families=10))
    ok = runner.invoke(app, ["data", "check", str(manifest)])
    assert ok.exit_code == 0 and "clean" in ok.output
    out = tmp_path / "sub" / "split.csv"
    result = runner.invoke(app, ["data", "split", str(manifest), "--out", str(out), "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert check_manifest(out, __import__("shanyraq.taxonomy").taxonomy.load_taxonomy()) == []
    (tmp_path / "f0_p0.jpg").unlink()
    bad = runner.invoke(app, ["data", "check", str(manifest)])
    assert bad.exit_code == 1
    assert "missing_file" in bad.output


def test_required_columns_documented():
    readme = (Path(__file__).resolve().parents[2] / "datasets" / "README.md").read_text()
    for column in REQUIRED_COLUMNS:
        assert f"`{column}`" in readme
