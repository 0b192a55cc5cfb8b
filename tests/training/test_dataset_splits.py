"""Splits from a manifest: by family, never by photo."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shanyraq.errors import ManifestError
from shanyraq.manifest import read_manifest, write_manifest
from training.dataset_splits import load_splits
from training.recipe import DataSection


def test_the_toy_manifest_keeps_each_family_in_one_split(toy_manifest):
    splits = load_splits(DataSection(manifest=toy_manifest))
    by_split = {
        name: {r.family_id for r in getattr(splits, name)} for name in ("train", "val", "test")
    }
    assert not (by_split["train"] & by_split["val"] or by_split["train"] & by_split["test"])


def test_a_family_in_two_splits_is_refused_by_name(toy_manifest, tmp_path):
    """A merged or pulled manifest can carry one home's photos into train and test."""
    manifest = read_manifest(toy_manifest)
    leaked = {"fam00": "val", "fam01": "test", "fam02": "test", "fam03": "val", "fam04": "test"}
    rows = []
    for r in manifest.rows:
        moved = r.family_id in leaked and r.path.endswith("_0.jpg")  # one photo per family
        split = leaked[r.family_id] if moved else r.split
        rows.append(replace(r, path=str(r.resolve(manifest.root)), split=split))
    path = write_manifest(tmp_path / "merged" / "manifest.csv", rows)
    with pytest.raises(ManifestError) as caught:
        load_splits(DataSection(manifest=path))
    message = str(caught.value)
    assert "5 families have photos in more than one split" in message
    assert "fam00 in train, val" in message and "fam01 in test, train" in message
    assert "and 2 more" in message and "fam04" not in message
