"""Review 22: the engine-trained model is checked to have learned the training families the
test families are held out from now (their records' hash, the test fraction of its recipe)."""

from __future__ import annotations

import copy

import pytest

from shanyraq.errors import ModelMismatchError
from tests.refusals import must_not_run
from tests.welfare.engine_study_helpers import SEED, N, measured_beside
from tests.welfare.real_report_helpers import real_result
from tests.welfare.welfare_config_helpers import more_rural_families
from welfare.real_report import engine_trained_verdict
from welfare.real_training import ENGINE_MODEL, load_engine_trained


def with_subsistence(config, kzt):
    thresholds = config.thresholds.model_copy(update={"subsistence_minimum_kzt": kzt})
    return config.model_copy(update={"thresholds": thresholds})


def test_an_engine_model_trained_on_families_generated_otherwise_is_refused(
    tmp_path, engine_folder_and_model, vision_dir, config, monkeypatch
):
    """The models are refused when configs changed since their training: a changed
    subsistence minimum by the features it was trained on (their feature basis, checked on
    load, before their training-data hash); the engine-trained one was compared all the same."""
    folder, _ = engine_folder_and_model
    changed = with_subsistence(config, 2 * config.thresholds.subsistence_minimum_kzt)
    monkeypatch.setattr("welfare.real_evaluation.held_out_families", must_not_run("the study"))
    with pytest.raises(ModelMismatchError, match="subsistence_minimum_kzt was"):
        measured_beside(tmp_path, vision_dir, changed, folder)


def test_an_engine_model_trained_on_families_labelled_otherwise_is_refused_on_load(
    tmp_path, engine_folder_and_model, vision_dir, config, monkeypatch
):
    """A change the features do not see (the poverty line decides the ASP labels only) is
    caught on load by the line its labels were drawn under, before the families' hash."""
    folder, _ = engine_folder_and_model
    thresholds = config.thresholds.model_copy(
        update={"poverty_line_kzt": 2 * config.thresholds.poverty_line_kzt}
    )
    changed = config.model_copy(update={"thresholds": thresholds})
    monkeypatch.setattr("welfare.real_evaluation.held_out_families", must_not_run("the study"))
    with pytest.raises(ModelMismatchError) as refused:
        measured_beside(tmp_path, vision_dir, changed, folder)
    message = refused.value.message
    assert message.startswith(f"{folder}: fusion model "), message
    assert "cannot give P(ASP eligible) under today's poverty line" in message, message
    # The whole command that builds that model again (every option it records), not a bare one.
    assert "; retrain it with `shanyraq welfare train-engine --n " in message, message
    assert f"--out {folder} " in message, message


def test_an_engine_model_trained_on_families_drawn_otherwise_is_refused_by_their_hash(
    tmp_path, engine_folder_and_model, vision_dir, config, monkeypatch
):
    """A change that neither the feature basis nor the label basis records (configs/synth.yaml:
    more rural families, so other records and labels) is caught by the training families'
    hash; the simulation-trained models are trained on the families drawn now."""
    folder, _ = engine_folder_and_model
    changed = more_rural_families(config, monkeypatch)
    monkeypatch.setattr("welfare.real_evaluation.held_out_families", must_not_run("the study"))
    with pytest.raises(ModelMismatchError, match="hash of their records and labels differs"):
        measured_beside(tmp_path, vision_dir, changed, folder)


def test_an_engine_model_trained_on_the_families_now_is_checked_and_compared(
    tmp_path, engine_folder_and_model, vision_dir, config
):
    folder, model = engine_folder_and_model
    assert model.meta.metrics["data"]["families_hash"]
    result = measured_beside(tmp_path, vision_dir, config, folder)
    assert result["engine_trained"] == ENGINE_MODEL
    assert result["engine_families_checked"] is True


def test_an_older_model_without_its_test_fraction_in_its_data_is_checked_by_its_recipe(
    tmp_path, engine_folder_and_model
):
    """Saved before train-engine recorded the test fraction in its data: the fraction its
    recipe records is the one its training split was drawn with."""
    _, model = engine_folder_and_model
    older = copy.deepcopy(model)
    del older.meta.metrics["data"]["test_fraction"]
    older.save(tmp_path / ENGINE_MODEL)
    fraction = model.meta.recipe["test_fraction"]
    kept = load_engine_trained(tmp_path / ENGINE_MODEL, n=N, seed=SEED, test_fraction=fraction)
    assert kept.meta.version == model.meta.version
    with pytest.raises(ModelMismatchError, match=r"test_fraction .* some of them are families"):
        load_engine_trained(tmp_path / ENGINE_MODEL, n=N, seed=SEED, test_fraction=0.5)


def test_the_report_says_when_the_training_families_were_not_checked(welfare_config):
    real = real_result()
    targets = welfare_config.targets
    unchecked = " ".join(engine_trained_verdict(real, targets=targets))
    assert "training families were NOT checked" in unchecked
    checked = {**real, "engine_families_checked": True}
    assert "NOT checked" not in " ".join(engine_trained_verdict(checked, targets=targets))
