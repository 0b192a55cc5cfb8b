"""Active selection: uncertain first, spread out, never two near-duplicates."""

from __future__ import annotations

import numpy as np
import pytest

from annotation.curve import labels_to_match
from annotation.select import (
    SelectionParams,
    diversity_space,
    hash_distance,
    select_batch,
    select_photos,
    warm_start,
)
from annotation.uncertainty import HeadProbabilities, binary_uncertainty, categorical_uncertainty
from vision.score import PhotoScore

WEIGHTS = {"room": 1.0, "condition": 1.0, "signs": 0.5}


def make_score(taxonomy, i: int, *, confidence: float, embedding: np.ndarray) -> PhotoScore:
    rooms, grades = taxonomy.room_names, taxonomy.condition_values
    room = {
        r: confidence if k == 0 else (1 - confidence) / (len(rooms) - 1)
        for k, r in enumerate(rooms)
    }
    cond = {
        g: confidence if k == 0 else (1 - confidence) / (len(grades) - 1)
        for k, g in enumerate(grades)
    }
    signs = dict.fromkeys(taxonomy.sign_names, 1 - confidence)
    return PhotoScore(str(i), "m", room, cond, signs, embedding.astype(np.float32))


@pytest.mark.parametrize("method", ["entropy", "margin"])
def test_uncertainty_is_zero_when_sure_and_one_when_clueless(method):
    sure, clueless = np.array([[1.0, 0, 0]]), np.full((1, 3), 1 / 3)
    assert categorical_uncertainty(sure, method)[0] == pytest.approx(0, abs=1e-6)
    assert categorical_uncertainty(clueless, method)[0] == pytest.approx(1)
    assert binary_uncertainty(np.array([[0.5, 0.5]]), method)[0] == pytest.approx(1)
    assert binary_uncertainty(np.array([[0.0, 1.0]]), method)[0] == pytest.approx(0, abs=1e-6)


def test_most_uncertain_photos_come_first(taxonomy):
    rng = np.random.default_rng(0)
    confidences = [0.95, 0.3, 0.9, 0.25, 0.8]
    scores = [
        make_score(taxonomy, i, confidence=c, embedding=rng.normal(size=8))
        for i, c in enumerate(confidences)
    ]
    params = SelectionParams(budget=2, diversity="kcenter")
    chosen = select_photos(scores, params, method="margin", head_weights=WEIGHTS)
    assert chosen == [3, 1]


@pytest.mark.parametrize("diversity", ["kcenter", "kmeans"])
def test_a_photo_the_model_gave_no_number_for_counts_as_most_uncertain(taxonomy, diversity):
    """NaN scores (an fp16 overflow, a broken model): the model cannot read the photo, so it
    is as uncertain as can be, not the surest (NaN sorted last) nor a k-means error."""
    rng = np.random.default_rng(2)
    scores = [
        make_score(taxonomy, i, confidence=c, embedding=rng.normal(size=8))
        for i, c in enumerate([0.95, 0.9, 0.85, 0.8, 0.6, 0.9])
    ]
    unread, nan = scores[5], float("nan")
    scores[5] = PhotoScore(
        "5", "m", dict.fromkeys(unread.room, nan), dict.fromkeys(unread.condition, nan),
        dict.fromkeys(unread.signs, nan), unread.embedding,
    )  # fmt: skip
    per_head = HeadProbabilities.from_scores(scores).uncertainties("margin")
    for head, values in per_head.items():
        assert values[5] == 1.0 and np.isfinite(values).all(), head
    params = SelectionParams(budget=1, diversity=diversity)
    assert select_photos(scores, params, method="margin", head_weights=WEIGHTS) == [5]


def test_never_two_near_duplicates(taxonomy):
    rng = np.random.default_rng(1)
    base = rng.normal(size=(10, 16))
    # Every photo has a near-identical twin that is just as uncertain.
    emb = np.concatenate([base, base + rng.normal(0, 1e-3, size=base.shape)])
    scores = [make_score(taxonomy, i, confidence=0.3, embedding=e) for i, e in enumerate(emb)]
    params = SelectionParams(budget=20, near_duplicate_cosine_distance=0.02)
    chosen = select_photos(scores, params, method="entropy", head_weights=WEIGHTS)
    assert len(chosen) == 10
    assert sorted(i % 10 for i in chosen) == list(range(10))


def test_photos_like_labelled_ones_are_skipped(taxonomy):
    rng = np.random.default_rng(2)
    emb = rng.normal(size=(6, 8))
    scores = [make_score(taxonomy, i, confidence=0.3, embedding=e) for i, e in enumerate(emb)]
    labelled = [make_score(taxonomy, 99, confidence=0.9, embedding=emb[0] * 1.0001)]
    params = SelectionParams(budget=6, near_duplicate_cosine_distance=0.02)
    chosen = select_photos(scores, params, head_weights=WEIGHTS, labelled=labelled)
    assert 0 not in chosen and len(chosen) == 5


def uniform_probs(uncertainty: np.ndarray) -> HeadProbabilities:
    """Probabilities whose room margin is exactly `uncertainty` (other heads weigh nothing)."""
    top = (1 + (1 - uncertainty)) / 2
    room = np.stack([top, 1 - top], axis=1)
    return HeadProbabilities(room=room, condition=room, signs=np.zeros((len(room), 0)))


ROOM_ONLY = {"room": 1.0, "condition": 0.0, "signs": 0.0}


@pytest.mark.parametrize("diversity", ["kcenter", "kmeans"])
def test_perceptual_hashes_also_block_duplicates(diversity):
    probs = uniform_probs(np.array([0.9, 0.8, 0.7]))
    emb = np.eye(3)
    hashes = np.array([0b1111, 0b1110, 1 << 40], dtype=np.uint64)  # 0 and 1 differ by one bit
    params = SelectionParams(
        budget=3, near_duplicate_hash_bits=2, head_weights=ROOM_ONLY, diversity=diversity
    )
    chosen = select_batch(probs, emb, params, hashes=hashes)
    assert len(chosen) == 2 and 2 in chosen and len({0, 1} & set(chosen)) == 1


def test_hash_distance_adds_up_over_columns():
    hashes = np.array([[0b1111, 0b1], [0b0, 0b0]], dtype=np.uint64)
    assert hash_distance(hashes, np.array([0, 0], dtype=np.uint64)).tolist() == [5, 0]
    # pHash 2 bits and dHash 2 bits apart: 4 in all, blocked at radius 4 but not 3.
    pair = np.array([[0b11, 0b11], [0b00, 0b00]], dtype=np.uint64)
    probs, emb = uniform_probs(np.array([0.9, 0.8])), np.eye(2)
    for radius, expected in ((4, 1), (3, 2)):
        params = SelectionParams(budget=2, near_duplicate_hash_bits=radius, head_weights=ROOM_ONLY)
        assert len(select_batch(probs, emb, params, hashes=pair)) == expected


def test_photos_hash_close_to_labelled_ones_are_skipped():
    probs, emb = uniform_probs(np.array([0.9, 0.8, 0.7])), np.eye(3)
    hashes = np.array([[1, 1], [2, 2], [1 << 30, 1 << 30]], dtype=np.uint64)
    params = SelectionParams(budget=3, near_duplicate_hash_bits=1, head_weights=ROOM_ONLY)
    chosen = sorted(
        select_batch(
            probs,
            emb,
            params,
            labelled_embeddings=np.ones((1, 3)),
            hashes=hashes,
            labelled_hashes=np.array([[1 << 30, (1 << 30) + 1]], dtype=np.uint64),
        )
    )
    assert chosen == [0, 1]


def clustered(seed: int, *, n_clusters: int = 4, per: int = 10) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.eye(n_clusters) * 5
    return np.concatenate([c + rng.normal(0, 0.3, size=(per, n_clusters)) for c in centres])


@pytest.mark.parametrize("diversity", ["kcenter", "kmeans"])
def test_diversity_spreads_picks_over_clusters(diversity):
    emb = clustered(3)
    uncertainty = np.full(40, 0.5)
    uncertainty[:10] = 0.6  # one cluster slightly more uncertain
    params = SelectionParams(budget=4, pool_factor=10, diversity=diversity, head_weights=ROOM_ONLY)
    chosen = select_batch(uniform_probs(uncertainty), emb, params)
    assert sorted(i // 10 for i in chosen) == [0, 1, 2, 3]


def test_without_diversity_the_most_uncertain_cluster_takes_everything():
    emb = clustered(3)
    uncertainty = np.full(40, 0.5)
    uncertainty[:10] = 0.6
    params = SelectionParams(budget=4, pool_factor=1, diversity="kmeans", head_weights=ROOM_ONLY)
    chosen = select_batch(uniform_probs(uncertainty), emb, params)
    assert all(i < 10 for i in chosen)


def test_kmeans_fills_the_budget_when_clusters_are_duplicates():
    rng = np.random.default_rng(4)
    base = rng.normal(size=(6, 5))
    emb = np.concatenate([base, base + 1e-4])
    hashes = np.concatenate([np.arange(6), np.arange(6)]).astype(np.uint64) << np.uint64(20)
    params = SelectionParams(
        budget=12, pool_factor=1, diversity="kmeans", near_duplicate_hash_bits=0,
        head_weights=ROOM_ONLY,
    )  # fmt: skip
    chosen = select_batch(uniform_probs(rng.uniform(0.2, 0.9, 12)), emb, params, hashes=hashes)
    assert sorted(i % 6 for i in chosen) == list(range(6))


def test_warm_start_covers_every_cluster_and_no_duplicates():
    emb = clustered(5)
    pair_hashes = np.random.default_rng(7).integers(0, 2**63, size=20, dtype=np.uint64)
    hashes = np.repeat(pair_hashes, 2)  # photos 2k and 2k+1 are copies of each other
    picked = warm_start(emb, 4, seed=0, hashes=hashes)
    assert sorted(i // 10 for i in picked) == [0, 1, 2, 3]
    assert len({int(hashes[i]) for i in picked}) == 4


def test_diversity_space_centres_a_shared_direction_away():
    rng = np.random.default_rng(6)
    emb = 10.0 + rng.normal(0, 0.1, size=(50, 8))  # positive features, one big common part
    raw = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    spaced = diversity_space(emb)
    assert (raw @ raw.T).min() > 0.99  # raw cosine says every photo is the same
    assert (spaced @ spaced.T).min() < 0.0
    assert np.allclose(np.linalg.norm(spaced, axis=1), 1.0)


def test_labels_to_match_interpolates():
    assert labels_to_match([10, 20, 30], [0.5, 0.7, 0.8], 0.6) == pytest.approx(15)
    assert labels_to_match([10, 20], [0.5, 0.6], 0.9) is None


def _smooth_photo(path, seed: int, *, quality: int = 95, brighter: int = 0) -> str:
    """A 128 px photo of smooth shapes (its hashes survive re-encoding); returns its sha256."""
    import hashlib

    from PIL import Image

    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 255, size=(6, 6, 3), dtype=np.uint8))
    pixels = np.asarray(small.resize((128, 128), Image.Resampling.BICUBIC), dtype=np.int16)
    Image.fromarray(np.clip(pixels + brighter, 0, 255).astype(np.uint8)).save(path, quality=quality)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_copies_of_photos_already_in_the_project_are_not_selected(tmp_path, taxonomy):
    """--skip-pushed: a re-encoded copy of a photo waiting in Label Studio is not sent again,
    whether that photo is in this manifest or came from another one."""
    from annotation.label_config import PhotoLabels
    from annotation.manifest_selection import select_from_manifest
    from shanyraq.manifest import ManifestRow

    from .helpers import score_for

    def row(name: str, sha: str) -> ManifestRow:
        return ManifestRow(name, sha, f"fam-{name}", "train", None, None, None, "field")

    rows = [row(f"p{i}.jpg", _smooth_photo(tmp_path / f"p{i}.jpg", seed=i)) for i in range(5)]
    # p0 was pushed from this manifest; elsewhere.jpg from another one (only its file is here).
    rows.append(row("p0_copy.jpg", _smooth_photo(tmp_path / "p0_copy.jpg", 0, quality=70)))
    other = tmp_path / "project" / "elsewhere.jpg"
    other.parent.mkdir()
    other_sha = _smooth_photo(other, seed=99)
    rows.append(row("elsewhere_copy.jpg", _smooth_photo(tmp_path / "e.jpg", 99, brighter=6)))
    (tmp_path / "e.jpg").rename(tmp_path / "elsewhere_copy.jpg")
    guess = PhotoLabels("kitchen", 3, frozenset())
    scores = {r.sha256: score_for(r.sha256, guess, taxonomy, seed=i) for i, r in enumerate(rows)}
    params = SelectionParams(budget=len(rows), diversity="kcenter")

    def picked(in_project):
        selection = select_from_manifest(rows, tmp_path, scores, params, in_project=in_project)
        return {r.path for r in selection.picked}

    everything = picked(None)  # p0 and its copy block each other; nothing blocks the other
    assert "elsewhere_copy.jpg" in everything and len({"p0.jpg", "p0_copy.jpg"} & everything) == 1
    pushed = picked({rows[0].sha256: None, other_sha: other})
    assert pushed == {"p1.jpg", "p2.jpg", "p3.jpg", "p4.jpg"}


def test_selection_defaults_are_the_configured_selection():
    # SelectionParams' defaults are a convenience for tests; annotation.yaml holds the values
    # (pool_factor was 4 here, 10 there).
    from dataclasses import asdict, replace

    from annotation.settings import load_annotation_config

    configured = load_annotation_config().selection.params(budget=7)
    bare = SelectionParams(budget=7)
    assert asdict(replace(bare, head_weights=dict(bare.weights()))) == asdict(configured)


def test_warm_start_takes_its_near_duplicate_radius_from_the_config(tmp_path, monkeypatch):
    from annotation.settings import get_annotation_config, load_annotation_config

    emb = clustered(5)
    hashes = np.random.default_rng(7).integers(0, 2**63, size=40, dtype=np.uint64)
    shipped = load_annotation_config().selection.params(4)
    # Configured so that any two photos are near-duplicates: one photo, whatever the budget.
    (tmp_path / "annotation.yaml").write_text("selection:\n  near_duplicate_hash_bits: 128\n")
    monkeypatch.setenv("SHANYRAQ_CONFIGS_DIR", str(tmp_path))
    get_annotation_config.cache_clear()
    try:
        assert len(warm_start(emb, 4, seed=0, hashes=hashes)) == 1
    finally:
        get_annotation_config.cache_clear()
    # Parameters given explicitly win (the shipped radius of 16 blocks nothing here).
    assert len(warm_start(emb, 4, seed=0, hashes=hashes, params=shipped)) == 4


def test_push_takes_its_threshold_and_batch_size_from_the_caller():
    # No second copy of annotation.yaml `push` in code: the CLI passes the configured values.
    import inspect

    from annotation.tasks import push_rows

    parameters = inspect.signature(push_rows).parameters
    for name in ("sign_threshold", "batch_size"):
        assert parameters[name].default is inspect.Parameter.empty, name


@pytest.mark.parametrize("diversity", ["kcenter", "kmeans"])
def test_the_budget_is_filled_when_the_most_uncertain_photos_are_copies(diversity):
    """The pool for the diversity step skips near-duplicates: a burst of copies of one labelled
    photo, or of one another, at the top of the ranking does not leave the batch short while
    other photos wait."""
    rng = np.random.default_rng(8)
    n, budget = 100, 3
    probs = uniform_probs(np.linspace(0.99, 0.1, n))
    emb = rng.normal(size=(n, 8))
    hashes = rng.integers(0, 2**63, size=n, dtype=np.uint64)
    burst = np.uint64(12345)
    hashes[: budget * 10] = burst  # as many copies as the pool holds photos
    params = SelectionParams(
        budget=budget, diversity=diversity, near_duplicate_hash_bits=4, head_weights=ROOM_ONLY
    )
    labelled = np.array([burst], dtype=np.uint64)
    chosen = select_batch(probs, emb, params, hashes=hashes, labelled_hashes=labelled)
    assert len(chosen) == budget and min(chosen) >= budget * 10
    chosen = select_batch(probs, emb, params, hashes=hashes)  # nothing labelled: one copy only
    assert len(chosen) == budget and sum(i < budget * 10 for i in chosen) == 1
