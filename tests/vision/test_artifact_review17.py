"""Review of model.json: values it cannot hold (NaN, infinity), hand edits of the wrong type,
a key given twice, a file too large to be one; and reliability_curve given plain lists."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from shanyraq.errors import ModelMismatchError
from tests.vision.artifact_helpers import set_value
from training.metrics import expected_calibration_error, reliability_curve
from vision import artifact as artifact_module
from vision.artifact import (
    Biases,
    Labels,
    ModelArtifact,
    Preprocessing,
    Temperatures,
    read_artifact,
    write_artifact,
)


def _artifact(taxonomy, **overrides) -> ModelArtifact:
    fields = {
        "model_version": "review-17",
        "backbone": "test_tiny",
        "taxonomy_version": taxonomy.version,
        "taxonomy_fingerprint": taxonomy.fingerprint(),
        "labels": Labels.of(taxonomy),
        "condition_formulation": "coral",
        "preprocessing": Preprocessing(size=64, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)),
        "embedding_dim": 16,
    }
    fields.update(overrides)
    return ModelArtifact(**fields)


def _saved(folder: Path, taxonomy, edit) -> Path:
    """A valid model.json in `folder`, then `edit(data)` applied as a hand edit would."""
    data = json.loads(_artifact(taxonomy).model_dump_json())
    edit(data)
    (folder / "model.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


# --- values JSON cannot hold ------------------------------------------------------------------


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_temperatures_and_offsets_must_be_finite(value):
    # Written, they would become null and fail only when read back (or, read from a hand-edited
    # Infinity, divide every logit into zeros).
    with pytest.raises(ValidationError):
        Temperatures(room=value)
    with pytest.raises(ValidationError):
        Biases(room=[0.0, value])
    with pytest.raises(ValidationError):
        Biases(condition=[value])


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda d: d["temperatures"].__setitem__("room", math.inf), "temperatures.room"),
        (lambda d: d["temperatures"].__setitem__("signs", math.nan), "temperatures.signs"),
        (lambda d: d["biases"].__setitem__("condition", [0.0, math.nan, 0.0, 0.0]), "biases"),
        (lambda d: d["biases"].__setitem__("room", [-math.inf] * 6), "biases.room"),
    ],
    ids=["temp-inf", "temp-nan", "bias-nan", "bias-inf"],
)
def test_a_hand_written_nan_or_infinity_is_refused_at_load(edit, key, taxonomy, tmp_path):
    folder = _saved(tmp_path, taxonomy, edit)  # json.dumps writes the NaN / Infinity tokens
    finite = rf"key '{key}[.a-z0-9]*': Input should be a finite number"
    with pytest.raises(ModelMismatchError, match=finite):
        read_artifact(folder)


def test_nan_metrics_are_written_as_valid_json_and_read_back(taxonomy, tmp_path):
    metrics = {"room_ece": math.nan, "qwk_ci": [0.4, math.inf], "n_photos": 12}
    write_artifact(tmp_path, _artifact(taxonomy, metrics=metrics))

    def no_constants(token: str) -> None:
        raise AssertionError(f"model.json holds {token}, which is not JSON")

    text = (tmp_path / "model.json").read_text(encoding="utf-8")
    assert json.loads(text, parse_constant=no_constants)["metrics"]["room_ece"] is None
    assert read_artifact(tmp_path).metrics == {
        "room_ece": None,
        "qwk_ci": [0.4, None],
        "n_photos": 12,
    }


# --- hand edits of the wrong type -------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (set_value("taxonomy_version", value="1"), "taxonomy_version"),
        (set_value("taxonomy_version", value=True), "taxonomy_version"),
        (set_value("format", value=True), "artifact format True"),
        (set_value("embedding_dim", value=True), "embedding_dim"),
        (set_value("embedding_dim", value="16"), "embedding_dim"),
        (set_value("preprocessing", "size", value="64"), "preprocessing.size"),
        (set_value("preprocessing", "mean", value=["0.5", 0.5, 0.5]), "preprocessing.mean.0"),
        (set_value("preprocessing", "mean", value=[0.5, 0.5]), "preprocessing.mean"),
        (set_value("preprocessing", "std", value=[0.25] * 4), "preprocessing.std"),
        (set_value("temperatures", "room", value="1.5"), "temperatures.room"),
        (set_value("temperatures", "room", value=True), "temperatures.room"),
        (set_value("labels", "condition", value=["1", "2", "3", "4", "5"]), "labels.condition.0"),
        (set_value("model_version", value=""), "model_version"),
        (
            set_value("onnx_outputs", value=["room_logits", "room_logits", "signs_logits", "e"]),
            "onnx_outputs names one output twice",
        ),
        (set_value("training_config", value=None), "training_config"),
    ],
)
def test_a_hand_edit_of_the_wrong_type_is_refused_not_coerced(edit, says, taxonomy, tmp_path):
    folder = _saved(tmp_path, taxonomy, edit)
    with pytest.raises(ModelMismatchError) as excinfo:
        read_artifact(folder)
    message = str(excinfo.value)
    says = says if " " in says else f"key '{says}"
    assert says in message and "model.json" in message and "\n" not in message


def test_a_whole_number_where_a_float_is_expected_still_loads(taxonomy, tmp_path):
    def edit(data):
        data["temperatures"]["room"] = 2
        data["preprocessing"]["mean"] = [0, 0, 0]
        data["preprocessing"]["std"] = [1, 1, 1]

    artifact = read_artifact(_saved(tmp_path, taxonomy, edit))
    assert artifact.temperatures.room == 2.0
    assert artifact.preprocessing.std == (1.0, 1.0, 1.0)


def test_a_key_given_twice_is_refused(taxonomy, tmp_path):
    text = _artifact(taxonomy).model_dump_json(indent=2)
    # A second "temperatures" at the end: json keeps the last one without a word.
    edited = text.rstrip().removesuffix("}") + ', "temperatures": {"room": 9.0}\n}'
    (tmp_path / "model.json").write_text(edited, encoding="utf-8")
    with pytest.raises(ModelMismatchError, match=r"model\.json: 'temperatures' is given twice"):
        read_artifact(tmp_path)


def test_a_file_too_large_to_be_a_model_json_is_refused_unread(taxonomy, tmp_path, monkeypatch):
    write_artifact(tmp_path, _artifact(taxonomy))
    size = (tmp_path / "model.json").stat().st_size
    monkeypatch.setattr(artifact_module, "MAX_META_BYTES", size - 1)
    with pytest.raises(ModelMismatchError, match=r"model\.json is .* bytes, more than"):
        read_artifact(tmp_path)
    monkeypatch.setattr(artifact_module, "MAX_META_BYTES", size)
    assert read_artifact(tmp_path).model_version == "review-17"


# --- reliability_curve ------------------------------------------------------------------------


def test_reliability_curve_takes_lists_like_the_ece():
    confidence, correct = [0.95, 0.9, 0.55, 0.15], [True, False, True, False]
    curve = reliability_curve(confidence, correct, bins=10)
    assert curve == reliability_curve(np.array(confidence), np.array(correct), bins=10)
    assert sum(curve["count"]) == 4 and curve["accuracy"] == [0.0, 1.0, 0.5]
    assert curve["confidence"] == pytest.approx([0.15, 0.55, 0.925])
    # Its bins are the ECE's: the count-weighted gap over its bins is the ECE.
    weighted = sum(
        n * abs(a - c)
        for n, a, c in zip(curve["count"], curve["accuracy"], curve["confidence"], strict=True)
    )
    ece = expected_calibration_error(np.array(confidence), np.array(correct), bins=10)
    assert weighted / 4 == pytest.approx(ece)
    assert reliability_curve([], []) == {"confidence": [], "accuracy": [], "count": []}
