"""Review 20: evaluate-real measures only models trained on the data it draws its test families
from (as `welfare evaluate` checks them), and the study's families are planned with the one
synth config the training data and the renders use."""

from __future__ import annotations

import re

import pytest

from shanyraq.errors import ModelMismatchError
from tests.refusals import must_not_run
from tests.welfare.engine_study_helpers import SEED, SIZE, N
from tests.welfare.welfare_config_helpers import (
    more_rural_families,
    other_poverty_line,
    with_fraction,
)
from training.synth.config import get_synth_config
from welfare.real_evaluation import measure_real_scores
from welfare.real_families import families_at, held_out_families

MODELS = ["lgbm_tabular", "lgbm_fused"]


def measure(folder, vision_dir, config):
    return measure_real_scores(
        folder, vision_dir=vision_dir, n_families=2, size=SIZE, cache_dir=None, n_boot=10,
        config=config,
    )  # fmt: skip


def test_models_trained_on_the_data_are_measured(trained_on_data, vision_dir, config):
    result = measure(trained_on_data, vision_dir, config)
    assert result["n_families"] == 2 and result["data"]["n"] == N


def test_models_trained_before_the_synth_config_changed_are_refused(
    trained_on_data, vision_dir, config, monkeypatch
):
    """Other synth settings: the families drawn now are not the ones the models were trained
    on (their training-data hash tells), so none is rendered and scored."""
    edited = more_rural_families(config, monkeypatch)
    monkeypatch.setattr("welfare.real_evaluation.held_out_families", must_not_run("the study"))
    with pytest.raises(ModelMismatchError) as refused:
        measure(trained_on_data, vision_dir, edited)
    message = refused.value.message
    assert message.startswith(f"{trained_on_data}: lgbm_fused, lgbm_tabular were not trained")
    assert f"data ({N} families, seed {SEED}) as it is generated now" in message
    retrain = (
        f"shanyraq welfare train --out {trained_on_data} --n {N} --seed {SEED} "
        "--overwrite --keep-meaningless"
    )
    assert f"`{retrain}`" in message


def test_models_trained_under_another_poverty_line_are_refused_on_load(
    trained_on_data, vision_dir, config, monkeypatch
):
    """Another poverty line (other ASP labels): the models are refused on load together, by
    the line their labels were drawn under, before their training-data hash is compared, so
    none is rendered and scored; the refusal names the command that trains them again."""
    edited = other_poverty_line(config)
    monkeypatch.setattr("welfare.real_evaluation.held_out_families", must_not_run("the study"))
    with pytest.raises(ModelMismatchError) as refused:
        measure(trained_on_data, vision_dir, edited)
    message = refused.value.message
    assert message.startswith(
        f"{trained_on_data}: lgbm_fused, lgbm_tabular cannot give P(ASP eligible)"
    ), message
    assert "poverty line 32,360 KZT" in message and "48,540 KZT now" in message, message
    retrain = (
        f"shanyraq welfare train --out {trained_on_data} --n {N} --seed {SEED} "
        "--model lgbm_fused --model lgbm_tabular --overwrite --keep-meaningless"
    )
    assert f"`{retrain}`" in message, message


def test_models_trained_on_another_training_split_are_refused_naming_it(
    trained_on_data, vision_dir, config, monkeypatch
):
    """With test_fraction edited, the test split would hold families the models learned."""
    monkeypatch.setattr("welfare.real_evaluation.held_out_families", must_not_run("the study"))
    fraction = config.fusion.test_fraction
    with pytest.raises(ModelMismatchError) as refused:
        measure(trained_on_data, vision_dir, with_fraction(config, 0.5))
    message = refused.value.message
    for name in MODELS:
        assert f"{name} on the one test_fraction {fraction} left" in message
    assert re.search(r"fusion\.test_fraction is 0\.5 now, so some of the test families", message)
    assert f"--n {N} --seed {SEED} --overwrite" in message


def test_the_study_families_take_no_other_synth_config(config):
    """The training data and the renders use configs/synth.yaml: families planned with another
    would not be the ones trained on, so no caller can ask for them."""
    with pytest.raises(TypeError, match="synth"):
        held_out_families(2, n=N, seed=SEED, config=config, synth=get_synth_config())
    with pytest.raises(TypeError, match="synth"):
        families_at([0], n=N, seed=SEED, config=config, synth=get_synth_config())
