"""Active selection, from a review: memory that grows with the photos (not their product with
the labelled ones), and the learning curve's warm start under the strategy's own radii."""

from __future__ import annotations

import tracemalloc
from dataclasses import replace

import numpy as np
import pytest

from annotation.curve import Strategy, _start
from annotation.select import SelectionParams, select_batch
from annotation.uncertainty import HeadProbabilities
from tests.annotation.helpers import feature_pool


@pytest.mark.parametrize(
    ("diversity", "cosine"), [("kcenter", 0.0), ("kmeans", 0.01), ("kcenter", 0.01)]
)
def test_distances_to_labelled_photos_do_not_take_memory_quadratic_in_the_photos(diversity, cosine):
    """2,000 candidates beside 8,000 labelled photos: every candidate-to-labelled distance at
    once was a 2,000 x 8,000 float64 matrix (122 MiB, and as much again for `1 - it`), 3 GiB
    with a budget of 1,000 beside 20,000 labelled photos. The inputs here are 2.5 MiB."""
    rng = np.random.default_rng(0)
    n, n_labelled, dim = 2000, 8000, 32
    room = rng.dirichlet(np.ones(6), n)
    probs = HeadProbabilities(room=room, condition=room, signs=np.zeros((n, 0)))
    params = SelectionParams(
        budget=200,
        pool_factor=10,
        diversity=diversity,
        near_duplicate_cosine_distance=cosine,
        head_weights={"room": 1.0},
    )
    emb, labelled = rng.normal(size=(n, dim)), rng.normal(size=(n_labelled, dim))
    # Once on a few photos first, so that the modules it imports are not counted.
    few = HeadProbabilities(room=room[:50], condition=room[:50], signs=np.zeros((50, 0)))
    select_batch(few, emb[:50], params.with_budget(5), labelled_embeddings=labelled[:50])
    tracemalloc.start()
    try:
        chosen = select_batch(probs, emb, params, labelled_embeddings=labelled)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(chosen) == 200 and len(set(chosen)) == 200
    assert peak < 48 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_the_curves_warm_start_uses_the_strategys_near_duplicate_radius(taxonomy):
    """`annotate curve --config FILE` measures FILE's selection; its warm start read the
    near-duplicate radius of the default configs/annotation.yaml instead (16 bits), so here,
    with every hash 2 bits from every other, it gave 1 photo in place of 10."""
    pool = feature_pool(60, taxonomy, seed=7)
    base = np.uint64(0xF0F0_F0F0_F0F0_F0F0)
    one_bit = np.uint64(1) << np.arange(60, dtype=np.uint64)
    pool = replace(pool, phash=base ^ one_bit, dhash=np.full(60, base, dtype=np.uint64))
    exact_copies_only = SelectionParams(budget=0, near_duplicate_hash_bits=0)
    active, _ = _start(pool, np.random.default_rng(0), 10, Strategy(params=exact_copies_only))
    assert len(active) == 10 and len(set(active)) == 10
    wide = replace(exact_copies_only, near_duplicate_hash_bits=2)
    active, _ = _start(pool, np.random.default_rng(0), 10, Strategy(params=wide))
    assert len(active) == 1
