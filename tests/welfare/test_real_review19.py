"""Review 19: the engine-trained path's score cache and the provenance of its model."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from shanyraq.errors import ModelMismatchError
from tests.welfare.engine_study_helpers import SEED, SIZE, N
from welfare.dataset import split_sizes
from welfare.real_families import held_out_families
from welfare.real_score_cache import ScoreCache
from welfare.real_scores import score_photos, study_engine
from welfare.real_training import (
    ENGINE_MODEL,
    load_engine_trained,
    train_on_engine_scores,
    trained_render_size,
)


@pytest.fixture(scope="module")
def held(config):
    return held_out_families(2, n=N, seed=SEED, config=config)


def test_a_cache_save_cut_short_keeps_the_scores_saved_before(tmp_path, vision_dir, held):
    engine = study_engine(vision_dir)
    cache = ScoreCache(tmp_path, engine=engine, held=held, size=SIZE)
    photos, _ = score_photos(held, engine=engine, size=SIZE, cache=cache)
    assert cache.load().keys() == photos.keys()

    def disk_full(file, *args, **kwargs):
        # As numpy's zip writer: the file is opened (a path truncated), then the disk fills.
        if isinstance(file, str | os.PathLike):
            with open(file, "wb") as handle:
                handle.write(b"PK\x03\x04")
        else:
            file.write(b"PK\x03\x04")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(np, "savez_compressed", disk_full)
        with pytest.raises(OSError, match="No space"):
            cache.save(photos)
    # The next run still finds every photo scored before (a stopped run keeps what it scored).
    assert cache.load().keys() == photos.keys()
    assert [p.name for p in tmp_path.iterdir()] == [cache.path.name]  # no temporary left


def test_the_cache_file_follows_the_jpeg_decode_side_where_it_changes_the_pixels(
    tmp_path, vision_dir, held, monkeypatch
):
    from shanyraq.config import get_settings
    from training.synth.config import get_synth_config
    from vision.engine import get_engine_config
    from welfare.real_scores import decode_planned

    index, photo = held.planned[0]
    synth, max_pixels = get_synth_config(), get_settings().io.max_pixels
    decoded = {
        side: decode_planned(
            photo, index, seed=SEED, size=1024, synth=synth, target_side=side, max_pixels=max_pixels
        ).pixels.shape
        for side in (512, 1024)
    }
    assert decoded[512] != decoded[1024]  # a 1024 px render decodes at half size for 512

    def cache_path(decode_side: int, size: int):
        config = get_engine_config().model_copy(update={"decode_short_side_px": decode_side})
        monkeypatch.setattr("vision.engine.get_engine_config", lambda: config)
        return ScoreCache(tmp_path, engine=study_engine(vision_dir), held=held, size=size).path

    assert cache_path(512, 1024) != cache_path(1024, 1024)
    # A 128 px render is decoded whole at either side: the same scores, the same cache.
    assert cache_path(512, 128) == cache_path(1024, 128)


@pytest.fixture(scope="module")
def engine_trained(tmp_path_factory, config, vision_dir):
    """lgbm_fused_engine trained on every training family, asked for by count."""
    folder = tmp_path_factory.mktemp("engine")
    everyone = split_sizes(N, test_fraction=config.fusion.test_fraction)[0]
    model, _ = train_on_engine_scores(
        folder / ENGINE_MODEL,
        vision_dir=vision_dir,
        n_families=everyone,
        subset_seed=7,
        size=SIZE,
        cache_dir=folder / "cache",
        config=config,
        keep_meaningless=True,  # 48 families: a smoke run
    )
    return folder / ENGINE_MODEL, model


def test_asking_for_every_training_family_records_no_subset(engine_trained, config):
    _, model = engine_trained
    source = model.meta.metrics["data"]
    assert source["train_families"] == split_sizes(N, test_fraction=config.fusion.test_fraction)[0]
    # The report reads a subset_seed as "a subset drawn with seed 7": none was drawn.
    assert source["subset_seed"] is None


def test_an_engine_trained_model_is_refused_for_photos_rendered_at_another_size(
    engine_trained, vision_dir
):
    folder, model = engine_trained
    version = study_engine(vision_dir).model_version
    assert model.meta.metrics["data"]["size"] == SIZE
    same = load_engine_trained(folder, n=N, seed=SEED, vision_model=version, size=SIZE)
    assert same.meta.version == model.meta.version
    with pytest.raises(ModelMismatchError, match=f"rendered at {SIZE} px.*now at {2 * SIZE} px"):
        load_engine_trained(folder, n=N, seed=SEED, vision_model=version, size=2 * SIZE)


def test_the_render_size_is_read_from_old_artifacts_too():
    older = {"photos": "vision engine demo-x-20261202-4324df31 on photos rendered at 128 px"}
    assert trained_render_size(older) == 128
    assert trained_render_size({**older, "size": 256}) == 256
    assert trained_render_size({}) is None
