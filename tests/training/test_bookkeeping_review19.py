"""Review 19 of the training bookkeeping: the metrics log keeps a column a resumed run adds,
the leak guard takes family ids as shanyraq.splits does (case and surrounding space aside),
and a recipe training on a stream does not need train rows in its manifest."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from shanyraq.errors import ManifestError
from shanyraq.manifest import read_manifest, sha256_file, write_manifest
from tests.training.leak_guard_helpers import trained_on
from training.dataset_splits import load_splits
from training.leak_guard import check_overlap, training_photos
from training.metrics_log import MetricsLog
from training.recipe import DataSection
from training.run_folder import METRICS_CSV

TRAINED = "fam00"  # a train family of the toy manifest (style 0)


def test_a_column_the_log_lacks_is_added_not_dropped(tmp_path):
    # Before: the header was fixed by the first row, so a run resumed by a version logging
    # one more figure lost it on every later row, without a word.
    path = tmp_path / METRICS_CSV
    path.write_text("epoch,train_loss\r\n1,0.5\r\n", newline="")
    log = MetricsLog(path)
    log.append({"epoch": 2, "train_loss": 0.25, "val_score": 0.75})
    log.append({"epoch": 3, "train_loss": 0.125})
    assert log.read() == [
        {"epoch": "1", "train_loss": "0.5", "val_score": ""},
        {"epoch": "2", "train_loss": "0.25", "val_score": "0.75"},
        {"epoch": "3", "train_loss": "0.125", "val_score": ""},
    ]
    log.truncate_after(2)
    assert [r["epoch"] for r in log.read()] == ["1", "2"]


def test_a_log_is_appended_to_as_it_was_when_the_columns_are_the_same(tmp_path):
    path = tmp_path / METRICS_CSV
    log = MetricsLog(path)
    log.append({"epoch": 1, "val_score": 0.5})
    log.append({"val_score": 0.25, "epoch": 2})  # another order: the header's is kept
    assert path.read_bytes() == b"epoch,val_score\r\n1,0.5\r\n2,0.25\r\n"


@pytest.fixture
def artifact(toy_manifest, tmp_path, tiny_recipe, taxonomy):
    """Metadata of a model trained on the toy manifest (nothing is trained: the leak guard
    reads only the recipe), as tests/training/conftest.py's `artifact` makes it, but with the
    manifest named absolute and its real digest."""
    recipe = tiny_recipe(toy_manifest, tmp_path / "run")
    return trained_on(recipe, taxonomy, data_sha256=sha256_file(toy_manifest))


def _new_photos_of(toy_manifest: Path, *family_ids: str) -> list:
    """Other photos (new sha256) of a trained family, its id written as given."""
    row = next(r for r in read_manifest(toy_manifest).rows if r.family_id == TRAINED)
    return [
        replace(row, sha256=f"{i:x}" * 64, family_id=written)
        for i, written in enumerate(family_ids, start=1)
    ]


def test_a_trained_family_written_another_way_is_a_leak(artifact, toy_manifest):
    # Before: "FAM00" and " fam00" were not fam00 to the leak guard, though the splits (and
    # `shanyraq data check`) hold them one home: its other photos were measured unflagged.
    assert TRAINED in training_photos(artifact).family_ids
    rows = _new_photos_of(toy_manifest, "FAM00")
    with pytest.raises(ManifestError, match=r"other photos of 1 families .*FAM00"):
        check_overlap(artifact, rows)
    found = check_overlap(
        artifact, _new_photos_of(toy_manifest, "FAM00", "Fam00", "fam00"), allow_overlap=True
    )
    assert found["overlap_with_training"] == 0
    assert found["family_overlap_with_training"] == 3
    assert found["families_overlapping_training"] == 1  # one home, however written


def test_a_family_the_model_never_saw_is_no_leak(artifact, toy_manifest):
    found = check_overlap(artifact, _new_photos_of(toy_manifest, "fam000", ""))
    assert (found["overlap_with_training"], found["family_overlap_with_training"]) == (0, 0)


def _without_train_rows(toy_manifest: Path, to: Path) -> Path:
    manifest = read_manifest(toy_manifest)
    rows = [
        replace(r, path=str(r.resolve(manifest.root))) for r in manifest.rows if r.split != "train"
    ]
    return write_manifest(to, rows)


def test_a_stream_recipe_needs_no_train_rows(toy_manifest, tmp_path):
    # Before: refused ("needs photos in both the train and val splits"), though a stream
    # replaces the manifest's train split and nothing reads it.
    path = _without_train_rows(toy_manifest, tmp_path / "no-train" / "manifest.csv")
    stream = {"seed": 7, "photos_per_epoch": 8, "size": 48}
    splits = load_splits(DataSection(manifest=path, stream=stream))
    assert not splits.train and splits.val and splits.test
    with pytest.raises(ManifestError, match="no photos in the train split"):
        load_splits(DataSection(manifest=path))


def test_a_split_left_empty_by_held_out_styles_says_so(toy_manifest, tmp_path):
    # Val holds families 6 and 7, of styles 0 and 1: holding both out leaves it empty.
    with pytest.raises(ManifestError, match=r"no photos in the val split .*held-out styles"):
        load_splits(DataSection(manifest=toy_manifest, held_out_styles=[0, 1]))


def test_the_test_split_counts_a_family_written_two_ways_once(toy_manifest, taxonomy, tmp_path):
    from training.evaluate import evaluate

    from .fixed_model import fixed_predictor

    read = read_manifest(toy_manifest)
    rows = [r for r in read.rows if r.split == "test"][:4]
    rows = [replace(r, family_id="Fam-X" if i % 2 else " fam-x", path=str(r.resolve(read.root)))
            for i, r in enumerate(rows)]  # fmt: skip
    artifact, predict = fixed_predictor(taxonomy, sign_logit=0.0)
    metrics = evaluate(predict, artifact, root=read.root, test_rows=rows, taxonomy=taxonomy)
    assert metrics["n_test_photos"] == 4 and metrics["n_test_families"] == 1
