"""Fitted learners: the cumulative (ordinal) LightGBM head and the level objective choice."""

from __future__ import annotations

import numpy as np
import pytest

from welfare.explain import contributions
from welfare.fusion import FusionModel, train_fusion
from welfare.heads import CumulativeLightGBMHead


def _ordinal(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 6, size=(n, 3))
    y = np.clip(np.floor(x[:, 0] + rng.normal(0, 0.3, n)), 0, 5).astype(int)
    return x, y


def test_cumulative_head_gives_ordered_distributions(welfare_config, tmp_path):
    x, y = _ordinal(1500, seed=0)
    head = CumulativeLightGBMHead.fit(
        x[:1000], y[:1000], n_classes=6, recipe=welfare_config.fusion, seed=0
    )
    probs = head.probabilities(x[1000:])
    assert probs.shape == (500, 6)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert (np.diff(head.exceedance(x[1000:]), axis=1) <= 0).all()
    assert (probs.argmax(axis=1) == y[1000:]).mean() > 0.7  # chance is 1/6
    head.save(tmp_path / "level.json")
    loaded = CumulativeLightGBMHead.load(tmp_path / "level.json")
    assert np.allclose(loaded.raw(x[1000:]), head.raw(x[1000:]))


def test_cumulative_contributions_name_the_feature_that_matters(welfare_config):
    x, y = _ordinal(1000, seed=1)
    head = CumulativeLightGBMHead.fit(x, y, n_classes=6, recipe=welfare_config.fusion, seed=0)
    contrib = head.contributions(x[:50])
    assert contrib.shape == (50, 6, 4)
    importance = np.abs(contrib[:, :, :3]).mean(axis=(0, 1))
    assert importance.argmax() == 0  # only the first feature drives the level


@pytest.mark.parametrize("objective", ["multiclass", "cumulative"])
def test_level_objective_trains_saves_and_loads(family_data, welfare_config, objective, tmp_path):
    recipe = welfare_config.fusion
    recipe = recipe.model_copy(
        update={"lightgbm": recipe.lightgbm.model_copy(update={"level_objective": objective})}
    )
    train = family_data.subset(range(700))
    model = train_fusion(
        "lgbm_fused",
        train.features,
        levels=train.table["latent_level"].to_numpy(),
        asp_eligible=train.table["asp_eligible"].astype(bool).to_numpy(),
        feature_names=train.space.names(with_visual=True),
        level_values=welfare_config.level_values,
        recipe=recipe,
        seed=0,
    )
    assert model.meta.level_objective == objective
    test = family_data.subset(range(700, 900))
    loaded = FusionModel.load(model.save(tmp_path / objective))
    assert np.allclose(
        loaded.predict(test.features).level_probs, model.predict(test.features).level_probs
    )
    truth = test.table["latent_level"].to_numpy()
    assert (model.predict(test.features).levels == truth).mean() > 0.5
    row = test.features.iloc[[0]].reset_index(drop=True)
    level_contrib = contributions(model, row, target="level", level_index=2)
    assert set(level_contrib) == set(model.features)
    assert any(abs(v) > 0 for v in level_contrib.values())
