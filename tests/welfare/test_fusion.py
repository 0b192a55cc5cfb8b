"""Fusion registry, training, calibration and artifacts on hand-made families."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from shanyraq import provenance
from shanyraq.errors import ModelMismatchError
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


def test_artifact_round_trip(trained, family_data, welfare_config, tmp_path):
    # Trained here, not taken from `trained` (made once for the session): the code version it
    # records is then the one this test reads (tests/welfare/conftest.py keeps one per test).
    model = _fit(family_data, welfare_config, "rf_fused")
    folder = model.save(tmp_path / "rf_fused")
    meta = json.loads((folder / "fusion.json").read_text())
    assert meta["version"].startswith("rf_fused-")
    assert meta["features"] == model.features
    assert len(meta["training_data_hash"]) == 64
    assert meta["code_version"] == provenance.code_version()  # the commit, as vision records it
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


def _fit(family_data, config, name="lgbm_tabular", seed=0, **fusion):
    from welfare.train import fit_on

    if fusion:
        config = config.model_copy(update={"fusion": config.fusion.model_copy(update=fusion)})
    train = family_data.subset(range(400))
    return fit_on(train, name, config=config, seed=seed, source={"n": 400, "seed": 3})


def test_version_names_the_recipe_and_seed_not_only_the_data(family_data, welfare_config):
    fusion = welfare_config.fusion
    base = _fit(family_data, welfare_config)
    fewer_trees = fusion.lightgbm.model_copy(update={"n_estimators": 20})
    others = {
        "another seed": _fit(family_data, welfare_config, seed=1),
        "other hyper-parameters": _fit(family_data, welfare_config, lightgbm=fewer_trees),
        "another calibration split": _fit(family_data, welfare_config, calibration_fraction=0.3),
    }
    for why, other in others.items():
        assert other.meta.training_data_hash == base.meta.training_data_hash, why  # same data
        assert other.meta.version != base.meta.version, why
    # The same data, recipe and seed give the same model, so the same version.
    assert _fit(family_data, welfare_config).meta.version == base.meta.version
    assert base.meta.seed == 0
    assert base.meta.recipe == fusion.model_dump(mode="json")


def test_forest_version_is_reproducible_and_follows_the_seed(family_data, welfare_config):
    first = _fit(family_data, welfare_config, name="rf_tabular")
    assert _fit(family_data, welfare_config, name="rf_tabular").meta.version == first.meta.version
    reseeded = _fit(family_data, welfare_config, name="rf_tabular", seed=2)
    assert reseeded.meta.version != first.meta.version


def test_saved_recipe_and_seed_round_trip(trained, tmp_path, welfare_config):
    folder = trained["lgbm_fused"].save(tmp_path / "m")
    meta = json.loads((folder / "fusion.json").read_text())
    assert meta["recipe"]["lightgbm"]["n_estimators"] == welfare_config.fusion.lightgbm.n_estimators
    assert meta["seed"] == 0
    loaded = FusionModel.load(folder)
    assert (loaded.meta.recipe, loaded.meta.version) == (meta["recipe"], meta["version"])


def test_artifact_saved_before_recipe_was_recorded_keeps_its_version(trained, tmp_path):
    folder = trained["lgbm_tabular"].save(tmp_path / "old")
    meta = json.loads((folder / "fusion.json").read_text())
    del meta["recipe"], meta["seed"]
    meta["version"] = "lgbm_tabular-0123456789ab"  # the old scheme: the data hash only
    (folder / "fusion.json").write_text(json.dumps(meta))
    loaded = FusionModel.load(folder)
    assert loaded.meta.version == "lgbm_tabular-0123456789ab"
    assert loaded.meta.recipe is None and loaded.meta.seed is None
    x = np.zeros((1, len(loaded.features)))
    assert loaded.predict(pd.DataFrame(x, columns=loaded.features)).levels.shape == (1,)
