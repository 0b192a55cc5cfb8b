"""Review 20: the engine-scored study's cache key and concurrent saves, train-engine's guards,
the test fraction, and the pairing of the bootstrap's arms."""

from __future__ import annotations

import copy
import fcntl
import os
import shutil
import threading

import numpy as np
import pandas as pd
import pytest

from shanyraq.errors import ConfigError, ModelMismatchError
from tests.refusals import error_code, must_not_run
from tests.welfare.engine_study_helpers import SEED, SIZE, N
from tests.welfare.welfare_config_helpers import with_fraction
from welfare.paired_bootstrap import paired_bootstrap
from welfare.real_evaluation import measure_real_scores
from welfare.real_families import held_out_families
from welfare.real_score_cache import ScoreCache
from welfare.real_scores import score_photos, study_engine
from welfare.real_training import (
    ENGINE_MODEL,
    load_engine_trained,
    train_on_engine_scores,
    training_families,
)

# Data other than the recipe's (as `welfare train --n 40 --seed 11` would use): 30 to train on.
OTHER_N, OTHER_SEED = 40, 11


@pytest.fixture(scope="module")
def held(config):
    return held_out_families(2, n=N, seed=SEED, config=config)


@pytest.fixture(scope="module")
def scored(vision_dir, held):
    """The held-out families' photos scored once (no cache)."""
    engine = study_engine(vision_dir)
    photos, _ = score_photos(held, engine=engine, size=SIZE)
    assert len(photos) >= 4
    return photos


# --- the cache key: what changes the scores, not what does not ----------------------------


def test_the_cache_file_follows_the_engine_settings_that_change_scores(tmp_path, vision_dir, held):
    engine = study_engine(vision_dir)

    def path(engine, **model_dir):
        return ScoreCache(tmp_path, engine=engine, held=held, size=SIZE, **model_dir).path

    def variant(provider=None, fp16=None, threads=None, interpolation=None):
        other = copy.copy(engine)
        runtime = engine.config.runtime.model_copy(
            update={
                k: v for k, v in (("fp16", fp16), ("intra_op_threads", threads)) if v is not None
            }
        )
        other.config = engine.config.model_copy(update={"runtime": runtime})
        if provider is not None:
            other.provider = provider
        if interpolation is not None:
            pre = engine.artifact.preprocessing.model_copy(update={"interpolation": interpolation})
            other.artifact = engine.artifact.model_copy(update={"preprocessing": pre})
        return other

    base = path(engine)
    assert engine.provider == "cpu"
    # Threads change no score: the same cache.
    assert path(variant(threads=4)) == base
    # fp16 is used only on a GPU: on the CPU the same scores, the same cache.
    assert path(variant(fp16=True)) == base
    # Another provider rounds otherwise; on it, fp16 changes the numbers again.
    on_gpu = path(variant(provider="cuda", fp16=False))
    assert on_gpu != base
    assert path(variant(provider="cuda", fp16=True)) not in (base, on_gpu)
    # model.json's preprocessing, under the same model version.
    other = "area" if engine.artifact.preprocessing.interpolation != "area" else "bilinear"
    assert path(variant(interpolation=other)) != base
    # The graph's bytes: a model exported again under the same version.
    again = shutil.copytree(vision_dir, tmp_path / "exported-again")
    with (again / "model.onnx").open("ab") as handle:
        handle.write(b"\0")
    assert path(engine, model_dir=again) != path(engine, model_dir=vision_dir)


def test_on_cuda_with_fp16_the_cache_follows_the_fp16_graph(tmp_path, vision_dir, held):
    engine = copy.copy(study_engine(vision_dir))
    runtime = engine.config.runtime.model_copy(update={"fp16": True})
    engine.config = engine.config.model_copy(update={"runtime": runtime})
    engine.provider = "cuda"
    folder = shutil.copytree(vision_dir, tmp_path / "with-fp16")

    def path():
        return ScoreCache(tmp_path, engine=engine, held=held, size=SIZE, model_dir=folder).path

    (folder / "model_fp16.onnx").write_bytes(b"half one")
    first = path()
    (folder / "model_fp16.onnx").write_bytes(b"half two")
    assert path() != first


# --- concurrent saves ----------------------------------------------------------------------


def test_runs_sharing_a_cache_keep_each_others_photos(tmp_path, vision_dir, held, scored):
    engine = study_engine(vision_dir)
    keys = sorted(scored)
    first_run = ScoreCache(tmp_path, engine=engine, held=held, size=SIZE)
    second_run = ScoreCache(tmp_path, engine=engine, held=held, size=SIZE)
    known = first_run.load()  # the first run starts: nothing cached yet
    second_run.save({k: scored[k] for k in keys[::2]})  # the second saves while it scores
    first_run.save({**known, **{k: scored[k] for k in keys[1::2]}})
    assert sorted(first_run.load()) == keys

    # Writers at once, each with photos of its own: every photo is kept.
    shutil.rmtree(tmp_path)
    parts = [keys[i::4] for i in range(4)]
    start = threading.Barrier(len(parts))
    errors: list[BaseException] = []

    def save(part):
        cache = ScoreCache(tmp_path, engine=engine, held=held, size=SIZE)
        start.wait()
        try:
            cache.save({k: scored[k] for k in part})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(part,)) for part in parts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(first_run.load()) == keys


def test_a_save_reads_and_writes_the_cache_under_the_folder_lock(
    tmp_path, vision_dir, held, scored, monkeypatch
):
    cache = ScoreCache(tmp_path, engine=study_engine(vision_dir), held=held, size=SIZE)
    held_then: list[bool] = []
    write = np.savez_compressed

    def writing(*args, **kwargs):
        fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held_then.append(False)
        except BlockingIOError:
            held_then.append(True)
        finally:
            os.close(fd)
        return write(*args, **kwargs)

    monkeypatch.setattr(np, "savez_compressed", writing)
    cache.save(scored)
    assert held_then == [True]
    assert cache.load().keys() == scored.keys()
    assert [p.name for p in tmp_path.iterdir()] == [cache.path.name]  # no lock file left


# --- the test fraction ---------------------------------------------------------------------


@pytest.mark.parametrize("test_fraction", [0.0, 1.0, -0.25, 1.5])
def test_a_test_fraction_outside_0_to_1_is_refused(tmp_path, config, test_fraction, monkeypatch):
    bad = with_fraction(config, test_fraction)
    with pytest.raises(ConfigError, match=f"test_fraction is {test_fraction}.*above 0 and below 1"):
        training_families(None, n=N, seed=SEED, subset_seed=0, config=bad)
    monkeypatch.setattr("welfare.real_training.study_engine", must_not_run("the engine"))
    with pytest.raises(ConfigError, match="test_fraction"):
        train_on_engine_scores(
            tmp_path / "te", vision_dir=tmp_path / "no-model", n_families=None, subset_seed=0,
            size=SIZE, cache_dir=None, config=bad, keep_meaningless=True,
        )  # fmt: skip
    with pytest.raises(ConfigError, match="test_fraction"):
        measure_real_scores(
            tmp_path / "no-models", vision_dir=tmp_path / "no-model", n_families=2, size=SIZE,
            cache_dir=None, n_boot=10, config=bad,
        )  # fmt: skip


# --- train-engine's guards, and its data (n, seed) ------------------------------------------


def test_train_engine_refuses_data_too_few_before_scoring(tmp_path, config, monkeypatch):
    monkeypatch.setattr("welfare.real_training.study_engine", must_not_run("the engine"))
    kwargs = dict(vision_dir=tmp_path / "no-model", n_families=None, subset_seed=0, size=SIZE,
                  cache_dir=None, config=config, seed=0)  # fmt: skip
    with pytest.raises(Exception) as refused:
        train_on_engine_scores(tmp_path / "te", n=3, keep_meaningless=True, **kwargs)
    assert error_code(refused.value) == "family_count_invalid"
    assert "3 families are too few" in refused.value.message
    with pytest.raises(Exception) as refused:
        train_on_engine_scores(tmp_path / "te", n=60, **kwargs)
    assert error_code(refused.value) == "family_count_invalid"
    assert "--keep-meaningless" in refused.value.message
    assert not (tmp_path / "te").exists()


def test_train_engine_refuses_a_model_that_learned_nothing(tmp_path, vision_dir, config):
    out = tmp_path / ENGINE_MODEL
    with pytest.raises(Exception) as refused:
        train_on_engine_scores(
            out, vision_dir=vision_dir, n_families=6, subset_seed=0, size=SIZE,
            cache_dir=tmp_path / "cache", config=config, n=100, seed=OTHER_SEED,
        )  # fmt: skip
    assert error_code(refused.value) == "model_meaningless", refused.value
    assert f"{ENGINE_MODEL} (level and ASP heads) learned nothing" in refused.value.message
    assert not out.exists()


@pytest.fixture(scope="module")
def other_data_model(tmp_path_factory, vision_dir, config):
    """lgbm_fused_engine on 6 training families of data (40, 11), not the recipe's."""
    folder = tmp_path_factory.mktemp("other-data")
    model, _ = train_on_engine_scores(
        folder / ENGINE_MODEL, vision_dir=vision_dir, n_families=6, subset_seed=0, size=SIZE,
        cache_dir=folder / "cache", config=config, n=OTHER_N, seed=OTHER_SEED,
        keep_meaningless=True,
    )  # fmt: skip
    return folder, model


def test_train_engine_trains_on_the_data_asked_for(other_data_model, vision_dir, config):
    folder, model = other_data_model
    source = model.meta.metrics["data"]
    assert (source["n"], source["seed"]) == (OTHER_N, OTHER_SEED)
    assert source["test_fraction"] == config.fusion.test_fraction
    # The photos it scored are those of the training families of (40, 11).
    held = training_families(6, n=OTHER_N, seed=OTHER_SEED, subset_seed=0, config=config)
    whole = training_families(None, n=OTHER_N, seed=OTHER_SEED, subset_seed=0, config=config)
    assert len(whole.table) == 30 and held.n == OTHER_N and held.seed == OTHER_SEED
    assert set(held.table["family_id"]) <= set(whole.table["family_id"])
    cache = ScoreCache(
        folder / "cache", engine=study_engine(vision_dir), held=held, size=SIZE,
        model_dir=vision_dir,
    )  # fmt: skip
    cached = {photo.family_id for photo in cache.load().values()}
    assert cached == set(held.table["family_id"].astype(str))
    loaded = load_engine_trained(folder / ENGINE_MODEL, n=OTHER_N, seed=OTHER_SEED)
    assert loaded.meta.version == model.meta.version


def test_an_engine_model_trained_beside_another_test_split_is_refused(
    tmp_path, other_data_model, vision_dir, config, monkeypatch
):
    folder, model = other_data_model
    fraction = config.fusion.test_fraction
    same = load_engine_trained(
        folder / ENGINE_MODEL, n=OTHER_N, seed=OTHER_SEED, test_fraction=fraction
    )
    assert same.meta.version == model.meta.version
    with pytest.raises(ModelMismatchError, match=r"test_fraction .* some of them are families"):
        load_engine_trained(folder / ENGINE_MODEL, n=OTHER_N, seed=OTHER_SEED, test_fraction=0.5)
    # evaluate-real checks it against the split it draws its test families from.
    fused = config.fusion.default_model
    models = {fused: model, fused.replace("_fused", "_tabular"): model}
    monkeypatch.setattr(
        "welfare.real_evaluation.load_trained_together",
        lambda *_: (models, (OTHER_N, OTHER_SEED)),
    )
    monkeypatch.setattr("welfare.real_evaluation.held_out_families", must_not_run("the study"))
    with pytest.raises(ModelMismatchError, match="test_fraction"):
        measure_real_scores(
            tmp_path, vision_dir=vision_dir, n_families=2, size=SIZE, cache_dir=None, n_boot=10,
            config=with_fraction(config, 0.5), engine_model=folder / ENGINE_MODEL,
        )  # fmt: skip


def test_data_of_another_seed_names_the_options_that_train_on_it(other_data_model):
    folder, _ = other_data_model
    with pytest.raises(ModelMismatchError, match="train-engine --n 40 --seed 3"):
        load_engine_trained(folder / ENGINE_MODEL, n=OTHER_N, seed=3)


# --- the paired bootstrap's arms ----------------------------------------------------------


def _arm(ids, level, eligible, asp, pred=None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "family_id": ids,
            "level": level,
            "level_pred": level if pred is None else pred,
            "asp_eligible": eligible,
            "asp": asp,
        }
    )


@pytest.fixture
def arm_a():
    rng = np.random.default_rng(3)
    level = rng.integers(1, 7, 40)
    return _arm(
        [f"F{i:03d}" for i in range(40)],
        level,
        rng.random(40) < 0.4,
        rng.choice(["eligible", "not_eligible", "needs_review"], 40),
        pred=np.clip(level + rng.integers(-1, 2, 40), 1, 6),
    )


def _bootstrap(frames):
    return paired_bootstrap(
        frames, pairs=[("a", "b")], levels=[1, 2, 3, 4, 5, 6], n_boot=20, seed=0
    )


def test_arms_of_the_same_families_in_the_same_order_are_paired(arm_a):
    result = _bootstrap({"a": arm_a, "b": arm_a.copy()})
    assert result["n"] == 40


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda f: f.iloc[::-1].reset_index(drop=True), "other families or another order"),
        (lambda f: f.assign(family_id=[f"G{i:03d}" for i in range(40)]), "other families"),
        (lambda f: f.iloc[:30].reset_index(drop=True), "30 families, 'a' 40"),
        (lambda f: pd.concat([f, f.iloc[:5]]).reset_index(drop=True), "45 families, 'a' 40"),
        (lambda f: f.drop(columns="family_id"), "have no family_id column"),
    ],
)
def test_arms_not_paired_family_by_family_are_refused(arm_a, change, why):
    with pytest.raises(ValueError, match=why):
        _bootstrap({"a": arm_a, "b": change(arm_a)})


def test_arms_without_ids_are_checked_by_their_truth(arm_a):
    a = arm_a.drop(columns="family_id")
    _bootstrap({"a": a, "b": a.copy()})
    shuffled = a.sample(frac=1, random_state=0).reset_index(drop=True)
    with pytest.raises(ValueError, match="other true levels or ASP eligibility"):
        _bootstrap({"a": a, "b": shuffled})
