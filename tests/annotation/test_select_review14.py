"""Active selection, from a review: near-duplicates by embedding whatever the pool, edge sizes,
and a batch short of its budget says why."""

from __future__ import annotations

import hashlib
import json
import logging

import numpy as np
import pytest

from annotation.select import SelectionParams, select_batch, select_photos, warm_start
from annotation.uncertainty import HeadProbabilities

ROOM_ONLY = {"room": 1.0, "condition": 0.0, "signs": 0.0}
DIVERSITY = ["kcenter", "kmeans"]


def room_probs(uncertainty: np.ndarray) -> HeadProbabilities:
    """Probabilities whose room margin is exactly `uncertainty` (other heads weigh nothing)."""
    top = (1 + (1 - uncertainty)) / 2
    room = np.stack([top, 1 - top], axis=1)
    return HeadProbabilities(room=room, condition=room, signs=np.zeros((len(room), 0)))


def cosine_params(budget: int, diversity: str) -> SelectionParams:
    return SelectionParams(
        budget=budget,
        diversity=diversity,  # type: ignore[arg-type]
        near_duplicate_cosine_distance=0.05,
        head_weights=ROOM_ONLY,
    )


@pytest.mark.parametrize("diversity", DIVERSITY)
def test_identical_embeddings_are_near_duplicates(diversity):
    """Standardised over the photos at hand, identical embeddings became zero vectors, a cosine
    distance of 1 from one another: all three copies were picked."""
    probs = room_probs(np.array([0.9, 0.8, 0.7]))
    assert select_batch(probs, np.ones((3, 4)), cosine_params(3, diversity)) == [0]


@pytest.mark.parametrize("diversity", DIVERSITY)
def test_a_pool_of_copies_of_one_photo_gives_one_pick(diversity):
    """Standardising stretched the copies' tiny differences to unit scale, so every copy looked
    like a different photo."""
    rng = np.random.default_rng(0)
    photo = rng.normal(size=(1, 16))
    copies = photo + rng.normal(0, 1e-4, size=(3, 16))
    probs = room_probs(np.array([0.9, 0.8, 0.7]))
    assert select_batch(probs, copies, cosine_params(3, diversity)) == [0]


@pytest.mark.parametrize("diversity", DIVERSITY)
def test_the_copy_of_the_one_labelled_photo_is_not_picked(diversity):
    """One candidate beside one labelled photo: standardised over the two, they were opposite
    points of the sphere however alike."""
    rng = np.random.default_rng(1)
    photo = rng.normal(size=(1, 16))
    params = cosine_params(1, diversity)
    probs = room_probs(np.array([0.9]))
    assert select_batch(probs, photo, params, labelled_embeddings=photo + 1e-4) == []
    assert select_batch(probs, photo, params, labelled_embeddings=-photo) == [0]


@pytest.mark.parametrize("diversity", DIVERSITY)
def test_distinct_photos_are_not_blocked_by_the_cosine_radius(diversity):
    rng = np.random.default_rng(2)
    emb = rng.normal(size=(6, 16))
    chosen = select_batch(room_probs(rng.uniform(0.2, 0.9, 6)), emb, cosine_params(6, diversity))
    assert sorted(chosen) == list(range(6))


def test_warm_start_of_nothing_picks_nothing():
    params = SelectionParams(budget=4)
    emb = np.random.default_rng(3).normal(size=(5, 4))
    assert warm_start(emb, 0, seed=0, params=params) == []
    assert warm_start(np.zeros((0, 4)), 4, seed=0, params=params) == []


@pytest.mark.parametrize("diversity", DIVERSITY)
@pytest.mark.parametrize(("n", "budget"), [(1, 1), (1, 5), (5, 5), (5, 9), (30, 7)])
def test_any_budget_gives_distinct_picks_the_same_each_time(n, budget, diversity):
    rng = np.random.default_rng(n * 100 + budget)
    emb = rng.normal(size=(n, 8))
    probs = room_probs(rng.uniform(0.1, 0.9, n))
    hashes = rng.integers(0, 2**63, size=(n, 2), dtype=np.uint64)
    params = SelectionParams(budget=budget, diversity=diversity, head_weights=ROOM_ONLY)
    chosen = select_batch(probs, emb, params, hashes=hashes)
    assert len(chosen) == min(n, budget) == len(set(chosen))
    assert select_batch(probs, emb, params, hashes=hashes) == chosen


def _photo(path, seed: int, *, quality: int = 95) -> str:
    """A 128 px photo of smooth shapes (its hashes survive re-encoding); returns its sha256."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 255, size=(6, 6, 3), dtype=np.uint8))
    small.resize((128, 128), Image.Resampling.BICUBIC).save(path, quality=quality)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _selection(tmp_path, taxonomy, rows_spec, budget):
    from annotation.label_config import PhotoLabels
    from annotation.manifest_selection import select_from_manifest
    from shanyraq.manifest import ManifestRow

    from .helpers import score_for

    rows = []
    for name, seed, quality in rows_spec:
        sha = _photo(tmp_path / name, seed, quality=quality)
        rows.append(ManifestRow(name, sha, f"fam-{name}", "train", None, None, None, "field"))
    guess = PhotoLabels("kitchen", 3, frozenset())
    scores = {r.sha256: score_for(r.sha256, guess, taxonomy, seed=i) for i, r in enumerate(rows)}
    params = SelectionParams(budget=budget, diversity="kcenter")
    return rows, params, select_from_manifest(rows, tmp_path, scores, params)


def test_a_batch_short_of_its_budget_says_how_many_near_duplicates_it_left(
    tmp_path, taxonomy, caplog
):
    from annotation.manifest_selection import selection_record

    spec = [("a.jpg", 0, 95), ("a_copy.jpg", 0, 70), ("b.jpg", 1, 95)]
    with caplog.at_level(logging.WARNING, logger="annotation.select"):
        _, params, selection = _selection(tmp_path, taxonomy, spec, budget=3)
    assert len(selection.picked) == 2 and selection.near_duplicates == 1
    assert "near-duplicates" in caplog.text and "budget of 3" in caplog.text
    manifest, out = tmp_path / "pool.csv", tmp_path / "picked.csv"
    manifest.write_text("pool\n")
    out.write_text("picked\n")
    record = selection_record(
        selection, params, manifest=manifest, out=out, scores_source={}, in_project=None
    )
    assert json.loads(json.dumps(record))["near_duplicates"] == 1


def test_a_filled_budget_reports_no_near_duplicates(tmp_path, taxonomy, caplog):
    spec = [("a.jpg", 0, 95), ("a_copy.jpg", 0, 70), ("b.jpg", 1, 95)]
    with caplog.at_level(logging.WARNING, logger="annotation.select"):
        _, _, selection = _selection(tmp_path, taxonomy, spec, budget=2)
    assert len(selection.picked) == 2 and selection.near_duplicates == 0
    assert "near-duplicates" not in caplog.text


def test_duplicate_rows_of_one_photo_are_picked_once(tmp_path, taxonomy):
    from annotation.label_config import PhotoLabels
    from annotation.manifest_selection import select_from_manifest

    from .helpers import score_for

    rows, params, _ = _selection(tmp_path, taxonomy, [("a.jpg", 0, 95), ("b.jpg", 1, 95)], 3)
    twice = [rows[0], rows[0], rows[1]]
    guess = PhotoLabels("kitchen", 3, frozenset())
    scores = {r.sha256: score_for(r.sha256, guess, taxonomy, seed=i) for i, r in enumerate(rows)}
    selection = select_from_manifest(twice, tmp_path, scores, params)
    assert sorted(r.path for r in selection.picked) == ["a.jpg", "b.jpg"]
    assert selection.near_duplicates == 1


def test_select_photos_with_a_pool_of_one(taxonomy):
    from annotation.label_config import PhotoLabels

    from .helpers import score_for

    one = [score_for("x", PhotoLabels("kitchen", 3, frozenset()), taxonomy)]
    assert select_photos(one, SelectionParams(budget=5)) == [0]


@pytest.mark.parametrize(
    ("weights", "words"),
    [
        ({"room": 0.0, "condition": 0.0, "signs": 0.0}, "at least one head needs a weight above 0"),
        ({"room": -1.0, "condition": 1.0, "signs": 0.5}, "greater than or equal to 0"),
    ],
)
def test_head_weights_that_would_rank_nothing_are_refused(tmp_path, weights, words):
    import yaml

    from annotation.settings import load_annotation_config
    from shanyraq.config import default_configs_dir
    from shanyraq.errors import ConfigError

    data = yaml.safe_load((default_configs_dir() / "annotation.yaml").read_text())
    data["selection"]["head_weights"] = weights
    path = tmp_path / "annotation.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=words):
        load_annotation_config(path)
