"""The leak guard finds the model's training manifest from any working folder: by the recipe's
path from the project root, or by the run folder's run.json (absolute path, sha256); a file of
the same name with other content is not taken for it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from shanyraq.errors import ManifestError
from shanyraq.manifest import read_manifest, sha256_file, write_manifest
from tests.training.leak_guard_helpers import (
    TRAINED,
    copy_with_absolute_paths,
    leaked_rows,
)
from training import leak_guard
from training.leak_guard import check_overlap, training_photos


def _run_json(model_dir: Path, manifest: Path, *, digest: str) -> None:
    """The run folder's run.json beside `model_dir`: the manifest and its sha256, and the
    digest of the data the run trained on."""
    model_dir.mkdir(parents=True)
    record = {
        "recipe": {}, "manifest": str(manifest.resolve()),
        "manifest_sha256": sha256_file(manifest), "training_data_sha256": digest,
    }  # fmt: skip
    (model_dir.parent / "run.json").write_text(json.dumps(record))


def test_a_relative_manifest_is_found_from_the_project_root(
    artifact, toy_manifest, tmp_path, elsewhere, monkeypatch
):
    root = tmp_path / "project"
    copied = copy_with_absolute_paths(toy_manifest, root / "data" / "manifest.csv")
    # A model trained on a manifest records its sha256: only that file is taken for it.
    artifact = artifact.model_copy(update={"training_data_sha256": sha256_file(copied)})
    monkeypatch.setattr(leak_guard, "default_configs_dir", lambda: root / "configs")
    seen = training_photos(artifact)
    assert seen.unknown_reason is None and seen.manifest == root / "data" / "manifest.csv"
    with pytest.raises(ManifestError, match=r"photos model .* was trained or validated on"):
        check_overlap(artifact, leaked_rows(toy_manifest))


def test_run_json_beside_the_artifact_gives_the_manifest_and_its_sha256(
    artifact, toy_manifest, tmp_path, elsewhere
):
    model_dir = tmp_path / "runs" / "r1" / "artifact"
    _run_json(model_dir, toy_manifest, digest=artifact.training_data_sha256)
    assert training_photos(artifact).unknown_reason is not None  # without the run folder
    seen = training_photos(artifact, model_dir=model_dir)
    assert (seen.unknown_reason, seen.manifest) == (None, toy_manifest.resolve())
    with pytest.raises(ManifestError, match="--allow-overlap"):
        check_overlap(artifact, leaked_rows(toy_manifest), model_dir=model_dir)

    # A same-named file with other content, where the recipe's relative path points from the
    # working folder, is not the training manifest: the one run.json names is used instead.
    other = read_manifest(toy_manifest)
    stranger = [replace(r, path=str(r.resolve(other.root)), family_id="x") for r in other.rows]
    write_manifest(elsewhere / "data" / "manifest.csv", stranger[:4])
    seen = training_photos(artifact, model_dir=model_dir)
    assert seen.manifest == toy_manifest.resolve() and TRAINED in seen.family_ids


def test_a_changed_manifest_is_not_taken_for_the_training_one(
    artifact, toy_manifest, tmp_path, elsewhere
):
    moved = copy_with_absolute_paths(toy_manifest, tmp_path / "moved" / "manifest.csv")
    model_dir = tmp_path / "runs" / "r1" / "artifact"
    _run_json(model_dir, moved, digest=artifact.training_data_sha256)
    rows = read_manifest(moved).rows
    write_manifest(moved, [replace(r, family_id=f"{r.family_id}-edited") for r in rows])
    seen = training_photos(artifact, model_dir=model_dir)
    assert seen.sha256 == frozenset()
    assert "sha256" in seen.unknown_reason and str(moved) in seen.unknown_reason
    found = check_overlap(artifact, leaked_rows(toy_manifest), model_dir=model_dir)
    assert found["training_photos_known"] is False


def test_run_json_of_another_training_is_not_used(artifact, toy_manifest, tmp_path, elsewhere):
    model_dir = tmp_path / "runs" / "r1" / "artifact"
    _run_json(model_dir, toy_manifest, digest="e" * 64)  # the run was trained again since
    seen = training_photos(artifact, model_dir=model_dir)
    assert seen.unknown_reason is not None and "not found" in seen.unknown_reason
    assert "data/manifest.csv" in seen.unknown_reason
