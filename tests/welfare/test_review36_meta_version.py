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
