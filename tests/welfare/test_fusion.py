"""Fusion registry, training, calibration and artifacts on hand-made families."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shanyraq.errors import ModelMismatchError
from shanyraq.provenance import code_version
from welfare.fusion import FusionModel, create_spec, decode_levels, list_models, softmax


def test_registry_has_forest_and_boosting_each_tabular_and_fused():
    assert list_models() == ["lgbm_fused", "lgbm_tabular", "rf_fused", "rf_tabular"]
    assert create_spec("rf_tabular").learner == "random_forest"
    assert create_spec("lgbm_fused").visual is True
    with pytest.raises(KeyError, match="unknown fusion model 'svm'"):
        create_spec("svm")


@pytest.mark.parametrize("name", ["lgbm_fused", "lgbm_tabular", "rf_fused", "rf_tabular"])
def test_models_predict_calibrated_distributions(trained, family_data, name):
    model = trained[name]
    uses_visual = any(f.startswith("vis_") for f in model.features)
    assert uses_visual is create_spec(name).visual
    test = family_data.subset(range(700, 900))
    prediction = model.predict(test.features)
    assert prediction.level_probs.shape == (200, 6)
    assert np.allclose(prediction.level_probs.sum(axis=1), 1.0)
    assert ((prediction.asp_probability > 0) & (prediction.asp_probability < 1)).all()
    truth = test.table["latent_level"].to_numpy()
    assert (prediction.levels == truth).mean() > 0.5  # chance is 1/6
    eligible = test.table["asp_eligible"].to_numpy()
    assert (
        prediction.asp_probability[eligible].mean() > prediction.asp_probability[~eligible].mean()
    )


def test_fused_uses_photos_on_hidden_income_families(trained, family_data):
    test = family_data.subset(range(700, 900))
    hidden = (test.table["case"] == "hidden_income").to_numpy()
    truth = test.table["latent_level"].to_numpy()[hidden]
    fused = trained["lgbm_fused"].predict(test.features).levels[hidden]
    tabular = trained["lgbm_tabular"].predict(test.features).levels[hidden]
    assert (fused == truth).mean() > (tabular == truth).mean()


def test_artifact_round_trip(trained, family_data, tmp_path):
    model = trained["rf_fused"]
    folder = model.save(tmp_path / "rf_fused")
    meta = json.loads((folder / "fusion.json").read_text())
    assert meta["version"].startswith("rf_fused-")
    assert meta["features"] == model.features
    assert len(meta["training_data_hash"]) == 64
    assert meta["code_version"] == code_version()  # the commit, as vision artifacts record it
    loaded = FusionModel.load(folder)
    x = family_data.features.iloc[:50]
    assert np.allclose(loaded.predict(x).level_probs, model.predict(x).level_probs)
    lgbm = FusionModel.load(trained["lgbm_fused"].save(tmp_path / "lgbm"))
    assert np.allclose(
        lgbm.predict(x).asp_probability, trained["lgbm_fused"].predict(x).asp_probability
    )


def test_load_refuses_a_folder_without_metadata(tmp_path):
    with pytest.raises(ModelMismatchError, match=r"no fusion\.json"):
        FusionModel.load(tmp_path)


def test_calibration_does_not_hurt_held_out_likelihood(trained, family_data):
    test = family_data.subset(range(700, 900))
    y = test.table["latent_level"].to_numpy() - 1
    for model in trained.values():
        raw = model.level_head.raw(model.matrix(test.features))
        calibrated = softmax(raw / model.meta.temperature)[np.arange(len(y)), y]
        uncalibrated = softmax(raw)[np.arange(len(y)), y]
        nll = -np.log(np.clip(calibrated, 1e-12, None)).mean()
        assert nll <= -np.log(np.clip(uncalibrated, 1e-12, None)).mean() + 0.02, model.meta.name
        assert model.meta.platt[0] > 0


def test_median_decoding_is_ordinal():
    probs = np.array([[0.4, 0.0, 0.0, 0.0, 0.0, 0.6], [0.45, 0.1, 0.0, 0.0, 0.0, 0.45]])
    assert decode_levels(probs, [1, 2, 3, 4, 5, 6], how="argmax").tolist() == [6, 1]
    assert decode_levels(probs, [1, 2, 3, 4, 5, 6], how="median").tolist() == [6, 2]
