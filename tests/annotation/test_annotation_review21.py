"""Review 21: one rule for which prediction an annotator was shown, the selection pool's cache
keyed by what its scores depend on (execution provider, fp16), and flat frames in selection.

Tasks are plain objects, as parse_task takes any task with ids, data, annotations and
predictions; no Label Studio server is needed.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from annotation import pool as pool_module
from annotation.answers import parse_task
from annotation.corrections import prediction_seen
from annotation.select import SelectionParams, select_batch
from annotation.uncertainty import HeadProbabilities
from tests.annotation.pull_helpers import BEDROOM, KITCHEN, SHA_A, annotation_of, prediction_of
from vision.hashing import perceptual_hash

# --- 1. one rule for the prediction an annotation started from ---


def _plain_task(annotations: list[dict], predictions: list[dict]) -> SimpleNamespace:
    data = {"photo": "bulk/1.jpg", "sha256": SHA_A, "family_id": "f1", "split": "train"}
    return SimpleNamespace(id=1, data=data, annotations=annotations, predictions=predictions)


def test_a_vote_starts_from_the_prediction_corrections_say_was_seen(taxonomy):
    """A task given as plain dicts (an export, a stand-in) whose prediction's model version is
    a number: the project's version is its text ("3", `latest_model_version`), and Label Studio
    stores versions as text, so the annotator was shown it. pull's own filter compared 3 with
    "3" and found no prediction, so the vote counted as no correction, while
    `corrections.prediction_seen` (which compares the text) found it."""
    prediction = {**prediction_of(taxonomy, 5, "m", KITCHEN, day=1), "model_version": 3}
    annotation = annotation_of(taxonomy, 1, 7, BEDROOM)  # names no parent prediction
    task = _plain_task([annotation], [prediction])
    seen = prediction_seen(annotation, [prediction], model_version="3")
    assert seen is not None and seen["id"] == 5
    for version in (None, "3"):
        parsed = parse_task(task, taxonomy, model_version=version)
        assert parsed.started_from == (KITCHEN,)
        assert parsed.correction_pairs() == [(KITCHEN, BEDROOM)]


def test_a_named_prediction_and_one_of_another_version_are_read_as_before(taxonomy):
    """Unchanged by the merge: a named prediction is found whatever its version, and one of
    another version than the project's is not what an unnamed annotation started from."""
    m1 = prediction_of(taxonomy, 1, "m1", KITCHEN, day=1)
    backend = prediction_of(taxonomy, 2, "backend-x", BEDROOM, day=2)
    named = annotation_of(taxonomy, 1, 7, BEDROOM, parent=2)
    unnamed = annotation_of(taxonomy, 2, 8, BEDROOM)
    parsed = parse_task(_plain_task([named, unnamed], [m1, backend]), taxonomy, model_version="m1")
    assert parsed.started_from == (BEDROOM, KITCHEN)
    other = parse_task(_plain_task([unnamed], [backend]), taxonomy, model_version="m1")
    assert other.started_from == (None,)


# --- 2. the pool's cache name carries the execution provider and fp16 ---


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, taxonomy) -> Path:
    engine_fixtures = pytest.importorskip("tests.vision.engine_fixtures")
    return engine_fixtures.make_artifact(tmp_path_factory.mktemp("model") / "m", taxonomy)


def _engine_on(monkeypatch, provider: str, *, fp16: bool = True) -> None:
    """Engine.load gives a CPU engine that says it runs on `provider` (with `fp16`): what
    its scores depend on is then what a session on that provider would have."""
    import vision.engine

    load = vision.engine.Engine.load.__func__  # type: ignore[attr-defined]

    def loaded(cls: Any, folder: Path, **kwargs: Any) -> Any:
        engine = load(cls, folder, **kwargs)
        engine.provider = provider
        runtime = engine.config.runtime.model_copy(update={"fp16": fp16})
        engine.config = engine.config.model_copy(update={"runtime": runtime})
        return engine

    monkeypatch.setattr(vision.engine.Engine, "load", classmethod(loaded))


def _build(model: Path, work_dir: Path, taxonomy) -> Any:
    return pool_module.build_pool(
        3, seed=2, model_dir=model, work_dir=work_dir, taxonomy=taxonomy, size=48
    )


@pytest.mark.slow
def test_a_pool_scored_on_another_provider_is_not_read_from_this_ones_cache(
    monkeypatch, tiny_model, tmp_path, taxonomy
):
    """A pool scored on a GPU in fp16 was cached under a name without the provider, and read
    back as the CPU's scores (and the other way round)."""
    _engine_on(monkeypatch, "cpu")
    _build(tiny_model, tmp_path, taxonomy)
    (cpu_cache,) = tmp_path.glob("pool-*.npz")
    _engine_on(monkeypatch, "cuda")
    _build(tiny_model, tmp_path, taxonomy)
    caches = sorted(tmp_path.glob("pool-*.npz"))
    assert len(caches) == 2  # scored again, cached apart
    _engine_on(monkeypatch, "cpu")
    _build(tiny_model, tmp_path, taxonomy)
    assert sorted(tmp_path.glob("pool-*.npz")) == caches and cpu_cache in caches  # reused


@pytest.mark.slow
def test_the_scoring_key_follows_provider_and_fp16(monkeypatch, tiny_model, taxonomy):
    keys = {}
    for provider, fp16 in (("cpu", True), ("cpu", False), ("cuda", True), ("cuda", False)):
        _engine_on(monkeypatch, provider, fp16=fp16)
        engine = pool_module._load_engine(tiny_model, taxonomy)
        keys[provider, fp16] = pool_module._scoring_key(engine, tiny_model)
    assert keys["cpu", True] == keys["cpu", False]  # fp16 applies on a GPU provider only
    assert len({keys["cpu", True], keys["cuda", True], keys["cuda", False]}) == 3


# --- 3. flat frames in selection ---


def _textured(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:96, 0:128]
    base = 120 + 60 * np.sin(x / (6 + seed)) * np.cos(y / (9 + 2 * seed))
    noise = rng.normal(0, 8, (96, 128))
    grey = np.clip(base + noise, 0, 255)
    return np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)


def _hashes(images: list[np.ndarray]) -> np.ndarray:
    return np.array([[h.phash, h.dhash] for h in map(perceptual_hash, images)], dtype=np.uint64)


def test_flat_frames_block_one_another_but_no_photo_with_structure():
    """A flat frame's hash keeps (almost) no set bits, so every flat frame is a near-duplicate
    of every other: one is picked. A photo with structure sets about half the bits and is not
    a near-duplicate of one, labelled or picked."""
    flats = [np.full((96, 128, 3), value, np.uint8) for value in (0, 90, 255)]
    photos = [_textured(seed) for seed in range(4)]
    images = flats + photos
    n = len(images)
    rng = np.random.default_rng(0)
    room = rng.dirichlet(np.ones(4), n)
    probs = HeadProbabilities(room=room, condition=room, signs=np.zeros((n, 0)))
    params = SelectionParams(budget=n, diversity="kcenter", near_duplicate_hash_bits=16)
    emb = rng.normal(size=(n, 8))
    picked = select_batch(probs, emb, params, hashes=_hashes(images))
    assert sum(i < len(flats) for i in picked) == 1
    assert {i for i in picked if i >= len(flats)} == set(range(len(flats), n))
    # A labelled flat frame blocks the flat candidates only.
    labelled = _hashes([np.full((96, 128, 3), 200, np.uint8)])
    picked = select_batch(
        probs,
        emb,
        params,
        labelled_embeddings=rng.normal(size=(1, 8)),
        hashes=_hashes(images),
        labelled_hashes=labelled,
    )
    assert sorted(picked) == list(range(len(flats), n))
