"""Fusion trained on engine scores: training families rendered, scored, fitted and compared."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from shanyraq.errors import ModelMismatchError
from tests.welfare.engine_study_helpers import SEED, SIZE, N
from welfare.cli import app
from welfare.dataset import split_indices
from welfare.fusion import FusionModel, data_hash
from welfare.real_evaluation import arm, measure_real_scores
from welfare.real_families import held_out_families
from welfare.real_report import real_score_lines
from welfare.real_reuse import reuse_flags
from welfare.real_score_cache import ScoreCache
from welfare.real_scores import planned_pixels, study_engine
from welfare.real_training import (
    ENGINE_MODEL,
    engine_family_data,
    fit_engine_fused,
    load_engine_trained,
    score_in_chunks,
    train_on_engine_scores,
    trained_vision_model,
    training_families,
)
from welfare.train import train_models


def test_training_families_are_the_training_split_or_a_seeded_subset_of_it(config):
    train_idx, test_idx = split_indices(N, test_fraction=config.fusion.test_fraction, seed=SEED)
    whole = training_families(None, n=N, seed=SEED, subset_seed=0, config=config)
    assert len(whole.table) == len(train_idx)
    test = held_out_families(len(test_idx), n=N, seed=SEED, config=config)
    assert not set(whole.table["family_id"]) & set(test.table["family_id"])
    subset = training_families(10, n=N, seed=SEED, subset_seed=1, config=config)
    again = training_families(10, n=N, seed=SEED, subset_seed=1, config=config)
    other = training_families(10, n=N, seed=SEED, subset_seed=2, config=config)
    ids = list(subset.table["family_id"])
    assert len(ids) == 10 and ids == list(again.table["family_id"])
    assert set(ids) <= set(whole.table["family_id"])
    assert set(ids) != set(other.table["family_id"])
    assert {p.family_id for _, p in subset.planned} == set(ids)


def test_scoring_in_chunks_covers_every_photo_once(config):
    held = training_families(7, n=N, seed=SEED, subset_seed=0, config=config)
    seen: list[int] = []

    def score(part):
        seen.append(len({p.family_id for _, p in part.planned}))
        return {f"{p.family_id}/{p.index}": p for _, p in part.planned}, {
            "photos": len(part.planned),
            "from_cache": 0,
            "scored": len(part.planned),
            "scoring_seconds": 0.5,
        }

    photos, counts = score_in_chunks(held, score=score, chunk=3)
    assert seen == [3, 3, 1]
    assert len(photos) == counts["photos"] == len(held.planned)


def test_engine_trained_model_is_fitted_on_engine_scores_and_compared(tmp_path, config, vision_dir):
    out = tmp_path / "engine" / ENGINE_MODEL
    kwargs = dict(vision_dir=vision_dir, size=SIZE, cache_dir=tmp_path / "cache", config=config)
    # 48 families: too few to learn from (a smoke run of the pipeline, as --keep-meaningless).
    trains = dict(n_families=None, subset_seed=0, keep_meaningless=True, **kwargs)
    model, counts = train_on_engine_scores(out, **trains)
    assert model.meta.name == ENGINE_MODEL and model.meta.visual
    assert any(f.startswith("vis_") for f in model.features)
    assert model.meta.metrics["data"]["n"] == N and model.meta.metrics["data"]["seed"] == SEED
    assert counts["scored"] == counts["photos"] > 0
    # The hash is over the engine-scored features: the model learned from the engine's reading.
    held = training_families(None, n=N, seed=SEED, subset_seed=0, config=config)
    engine = study_engine(vision_dir)
    cache = ScoreCache(
        tmp_path / "cache", engine=engine, held=held, size=SIZE, model_dir=vision_dir
    )
    photos = cache.load()
    reused, _ = reuse_flags(
        list(photos.values()),
        hashing=engine.config.hashing,
        pixels_of=planned_pixels(held, size=SIZE, engine=engine),
    )
    data = engine_family_data(held, photos, reused=reused, config=config)
    labels = (
        data.table["latent_level"].to_numpy().astype(int) - config.level_values[0],
        data.table["asp_eligible"].astype(bool).to_numpy().astype(int),
    )
    assert data_hash(data.features[model.features], *labels) == model.meta.training_data_hash
    loaded = FusionModel.load(out)
    assert loaded.meta.version == model.meta.version
    np.testing.assert_allclose(
        loaded.predict(data.features).level_probs, model.predict(data.features).level_probs
    )
    _, again = train_on_engine_scores(out, **trains)
    assert again["scored"] == 0  # every photo came from the cache
    # It learned this vision model's errors: another vision model's scores are refused.
    assert model.meta.metrics["data"]["vision_model"] == engine.model_version
    same = load_engine_trained(out, n=N, seed=SEED, vision_model=engine.model_version)
    assert same.meta.version == model.meta.version
    with pytest.raises(ModelMismatchError, match="scored by other-model now"):
        load_engine_trained(out, n=N, seed=SEED, vision_model="other-model")

    models = tmp_path / "models"  # trained on (N, SEED): evaluate-real checks they were
    names = ["lgbm_tabular", "lgbm_fused"]
    train_models(models, n=N, seed=SEED, names=names, config=config, keep_meaningless=True)
    result = measure_real_scores(models, n_families=4, n_boot=20, engine_model=out, **kwargs)
    result.pop("_frames")
    assert result["engine_trained"] == ENGINE_MODEL
    pairs = {(d["a"], d["b"]) for d in result["overall"]["differences"]}
    assert (arm(ENGINE_MODEL, "engine"), arm("lgbm_tabular", "engine")) in pairs
    text = "\n".join(real_score_lines({**result, "command": "test"}, targets=config.targets))
    assert f"`{ENGINE_MODEL}`, the `lgbm_fused` recipe trained on engine scores" in text


def test_engine_model_version_follows_the_seed_not_only_the_data(family_data, welfare_config):
    data = family_data.subset(range(300))

    def fit(seed):
        return fit_engine_fused(data, config=welfare_config, seed=seed, source={"n": 1, "seed": 1})

    first = fit(0)
    assert first.meta.name == ENGINE_MODEL and first.meta.version.startswith(f"{ENGINE_MODEL}-")
    assert (first.meta.seed, first.meta.recipe) == (
        0,
        welfare_config.fusion.model_dump(mode="json"),
    )
    assert fit(0).meta.version == first.meta.version  # the same model again
    reseeded = fit(1)
    assert reseeded.meta.training_data_hash == first.meta.training_data_hash
    assert reseeded.meta.version != first.meta.version


def test_cli_train_engine_writes_the_model(tmp_path, config, vision_dir, monkeypatch):
    monkeypatch.setattr("welfare.criteria.get_welfare_config", lambda: config)
    out = tmp_path / ENGINE_MODEL
    args = ["train-engine", "--families", "12", "--out", str(out), "--vision", str(vision_dir)]
    args += ["--size", str(SIZE), "--cache", str(tmp_path / "cache"), "--keep-meaningless"]
    run = CliRunner().invoke(app, args)
    assert run.exit_code == 0, run.output
    assert json.loads((out / "fusion.json").read_text())["metrics"]["data"]["train_families"] == 12


def test_an_unrenderable_photo_is_left_out_and_counted(tmp_path, config, vision_dir, monkeypatch):
    from training.synth.photos import RenderError
    from welfare import real_scores

    held = training_families(3, n=N, seed=SEED, subset_seed=0, config=config)
    skipped = held.planned[0][1]
    real_prepare = real_scores.prepare_photo

    def prepare(photo, index, **kwargs):
        if photo is skipped:
            raise RenderError("could not draw signs")
        return real_prepare(photo, index, **kwargs)

    monkeypatch.setattr(real_scores, "prepare_photo", prepare)
    engine = study_engine(vision_dir)
    photos, counts = real_scores.score_photos(held, engine=engine, size=SIZE)
    assert counts["unrenderable"] == 1 and len(photos) == len(held.planned) - 1
    data = engine_family_data(held, photos, reused=dict.fromkeys(photos, False), config=config)
    assert len(data) == 3
    family = list(held.table["family_id"]).index(skipped.family_id)
    planned = sum(p.family_id == skipped.family_id for _, p in held.planned)
    assert data.visuals[family].n_photos == planned - 1


def test_the_vision_model_an_engine_trained_model_learned_from_is_read_from_old_artifacts():
    older = {"photos": "vision engine demo-x-20261202-4324df31 on photos rendered at 128 px"}
    assert trained_vision_model(older) == "demo-x-20261202-4324df31"
    assert trained_vision_model({**older, "vision_model": "m2"}) == "m2"
    assert trained_vision_model({}) is None
