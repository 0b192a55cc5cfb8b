"""A fusion model records the code version shanyraq.provenance.code_version gives when the model
is made, not the function bound when welfare.model_folder was imported: a caller or test that
replaces the module's function (as tests/serving/conftest.py does) reaches FusionMeta too."""

from __future__ import annotations

import pytest

from shanyraq import provenance


def replaced(monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    monkeypatch.setattr(provenance, "code_version", lambda folder=None: version)


def test_a_model_fitted_records_the_version_the_module_gives_now(
    monkeypatch, family_data, welfare_config
):
    from welfare.train import fit_on

    train = family_data.subset(range(300))
    replaced(monkeypatch, "0.1.0+0123456789ab")
    model = fit_on(train, "lgbm_tabular", config=welfare_config, seed=0, source={"n": 300})
    assert model.meta.code_version == "0.1.0+0123456789ab"
    replaced(monkeypatch, "0.1.0+fedcba987654")  # read when each is made, not once
    model = fit_on(train, "lgbm_tabular", config=welfare_config, seed=0, source={"n": 300})
    assert model.meta.code_version == "0.1.0+fedcba987654"


@pytest.mark.usefixtures("hand_made_synthetic")
def test_an_evaluation_records_the_version_the_module_gives_when_it_runs(
    monkeypatch, tmp_path, welfare_config
):
    """welfare.train bound the function when imported: a replaced one did not reach `welfare
    evaluate`'s record of the code that measured it."""
    from welfare.train import evaluate_saved, train_models

    fusion = welfare_config.fusion.model_copy(update={"default_model": "lgbm_tabular"})
    config = welfare_config.model_copy(update={"fusion": fusion})
    train_models(tmp_path, n=300, seed=5, names=["lgbm_tabular"], config=config)
    replaced(monkeypatch, "0.1.0+0123456789ab")
    _, context = evaluate_saved(tmp_path, n_boot=5, config=config)
    assert context["code_version"] == "0.1.0+0123456789ab"
