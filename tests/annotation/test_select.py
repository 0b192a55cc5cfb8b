"""Active selection: uncertain first, spread out, never two near-duplicates."""

from __future__ import annotations

import numpy as np
import pytest

from annotation.curve import labels_to_match
from annotation.select import (
    SelectionParams,
    binary_uncertainty,
    categorical_uncertainty,
    k_center_select,
    select_photos,
)
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
    chosen = select_photos(scores, SelectionParams(budget=2), method="margin", head_weights=WEIGHTS)
    assert chosen == [3, 1]


def test_never_two_near_duplicates(taxonomy):
    rng = np.random.default_rng(1)
    base = rng.normal(size=(10, 16))
    # Every photo has a near-identical twin that is just as uncertain.
    emb = np.concatenate([base, base + rng.normal(0, 1e-3, size=base.shape)])
    scores = [make_score(taxonomy, i, confidence=0.3, embedding=e) for i, e in enumerate(emb)]
    chosen = select_photos(
        scores, SelectionParams(budget=20), method="entropy", head_weights=WEIGHTS
    )
    assert len(chosen) == 10
    assert sorted(i % 10 for i in chosen) == list(range(10))


def test_photos_like_labelled_ones_are_skipped(taxonomy):
    rng = np.random.default_rng(2)
    emb = rng.normal(size=(6, 8))
    scores = [make_score(taxonomy, i, confidence=0.3, embedding=e) for i, e in enumerate(emb)]
    labelled = [make_score(taxonomy, 99, confidence=0.9, embedding=emb[0] * 1.0001)]
    chosen = select_photos(
        scores, SelectionParams(budget=6), method="margin", head_weights=WEIGHTS, labelled=labelled
    )
    assert 0 not in chosen and len(chosen) == 5


def test_perceptual_hashes_also_block_duplicates():
    uncertainty = np.array([0.9, 0.8, 0.7])
    emb = np.eye(3)
    hashes = np.array([0b1111, 0b1110, 1 << 40], dtype=np.uint64)  # 0 and 1 differ by one bit
    params = SelectionParams(budget=3, near_duplicate_hash_bits=2)
    assert k_center_select(uncertainty, emb, params, hashes=hashes) == [0, 2]


def test_diversity_spreads_picks_over_clusters():
    rng = np.random.default_rng(3)
    centres = np.eye(4) * 5
    emb = np.concatenate([c + rng.normal(0, 0.3, size=(10, 4)) for c in centres])
    uncertainty = np.full(40, 0.5)
    uncertainty[:10] = 0.6  # one cluster slightly more uncertain
    params = SelectionParams(budget=4, pool_factor=10, near_duplicate_cosine_distance=0.0)
    chosen = k_center_select(uncertainty, emb, params)
    assert sorted(i // 10 for i in chosen) == [0, 1, 2, 3]


def test_labels_to_match_interpolates():
    assert labels_to_match([10, 20, 30], [0.5, 0.7, 0.8], 0.6) == pytest.approx(15)
    assert labels_to_match([10, 20], [0.5, 0.6], 0.9) is None
