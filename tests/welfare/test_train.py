"""Training and evaluation runs: what `welfare evaluate` records about its own making."""

from __future__ import annotations

import pytest

from shanyraq import provenance
from welfare.train import evaluate_saved, train_models


@pytest.mark.usefixtures("hand_made_synthetic")
def test_evaluation_context_records_code_config_and_recipe(tmp_path, welfare_config):
    fusion = welfare_config.fusion.model_copy(update={"default_model": "lgbm_tabular"})
    config = welfare_config.model_copy(update={"fusion": fusion})
    train_models(tmp_path, n=300, seed=5, names=["lgbm_tabular"], config=config)
    _, context = evaluate_saved(tmp_path, n_boot=5, config=config)
    assert context["code_version"] == provenance.code_version()
    assert context["welfare_config_sha256"] == config.digest()
    assert context["recipe"] == fusion.model_dump(mode="json")
    assert (context["n_families"], context["seed"]) == (300, 5)
