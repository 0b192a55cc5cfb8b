"""model.json round trip and refusal of an artifact trained on another taxonomy."""

from __future__ import annotations

import json

import pytest

from shanyraq.errors import ModelMismatchError
from vision.artifact import Labels, ModelArtifact, Preprocessing, read_artifact, write_artifact


def _artifact(taxonomy, **overrides):
    fields = {
        "model_version": "test-1",
        "backbone": "test_tiny",
        "taxonomy_version": taxonomy.version,
        "taxonomy_fingerprint": taxonomy.fingerprint(),
        "labels": Labels(
            room=taxonomy.room_names,
            condition=taxonomy.condition_values,
            signs=taxonomy.sign_names,
        ),
        "condition_formulation": "coral",
        "preprocessing": Preprocessing(size=64, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)),
        "embedding_dim": 16,
    }
    fields.update(overrides)
    return ModelArtifact(**fields)


def test_roundtrip(tmp_path, taxonomy):
    artifact = _artifact(taxonomy)
    write_artifact(tmp_path, artifact)
    again = read_artifact(tmp_path)
    assert again == artifact
    again.check_taxonomy(taxonomy)


def test_mismatched_taxonomy_refused(taxonomy):
    stale = _artifact(taxonomy, taxonomy_fingerprint="0" * 64)
    with pytest.raises(ModelMismatchError, match="retrain or export"):
        stale.check_taxonomy(taxonomy)


def test_missing_or_foreign_folder(tmp_path):
    with pytest.raises(ModelMismatchError, match=r"model\.json missing"):
        read_artifact(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(ModelMismatchError, match="artifact format 99"):
        read_artifact(tmp_path)


def test_calibration_offsets_must_fit_the_heads(taxonomy):
    from pydantic import ValidationError

    from vision.artifact import Biases

    n_room, n_grades = len(taxonomy.room_names), len(taxonomy.condition_values)
    ok = Biases(room=[0.1] * n_room, condition=[0.0] * (n_grades - 1))
    assert _artifact(taxonomy, biases=ok).biases == ok
    with pytest.raises(ValidationError, match=rf"biases\.condition has {n_grades} values"):
        _artifact(taxonomy, biases=Biases(condition=[0.0] * n_grades))  # coral has K-1
    assert _artifact(
        taxonomy, condition_formulation="softmax", biases=Biases(condition=[0.0] * n_grades)
    )
    with pytest.raises(ValidationError, match=r"biases\.room"):
        _artifact(taxonomy, biases=Biases(room=[0.0]))


def test_model_json_without_offsets_still_loads(tmp_path, taxonomy):
    data = json.loads(_artifact(taxonomy).model_dump_json())
    del data["biases"]  # written before calibration offsets existed
    (tmp_path / "model.json").write_text(json.dumps(data))
    assert read_artifact(tmp_path).biases.room == []
