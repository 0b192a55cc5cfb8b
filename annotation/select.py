"""Active learning: which unlabelled photos are most worth an annotator's time.

Score = combined per-head uncertainty (`annotation.uncertainty`: entropy or margin, each
normalised to 0..1, weighted). Diversity, on the model's embeddings standardised over the photos
at hand and L2-normalised: either uncertainty-weighted k-center greedy (each pick maximises
uncertainty x distance to everything already labelled or picked) or k-means over the most
uncertain candidates (one pick per cluster, its most central or most uncertain photo), so a batch
does not spend labels on one cluster. A batch comes out best first: k-center in its greedy order
(each pick the best given those before it), k-means picks most uncertain first. Near-duplicates
(perceptual hashes within a radius, or the model's embeddings, as they are, closer than a cosine
distance) are never picked together, nor next to a photo already labelled or already waiting in
the Label Studio project (`annotation.manifest_selection`); they do not take places in the
candidate pool either, so copies at the top of the ranking cannot leave a batch short of its
budget. A batch is short only when every photo left is a near-duplicate of a pick or of a
labelled one (`short_by`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from annotation.uncertainty import HeadProbabilities, UncertaintyMethod, combined_uncertainty
from shanyraq.taxonomy import HeadName
from vision.score import PhotoScore

logger = logging.getLogger(__name__)

DiversityMethod = Literal["kcenter", "kmeans"]
_EPS = 1e-12  # the least norm an embedding is divided by
# Distances computed at once (8 MiB of float64): candidates against labelled photos are taken a
# block of rows at a time, so memory grows with their numbers, not with their product.
_BLOCK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class SelectionParams:
    """How a batch is chosen. Callers take these from configs/annotation.yaml `selection`
    (`AnnotationConfig.selection.params(budget)`); the defaults equal its values (a test holds
    them together) only so that tests and experiments can change one field at a time."""

    budget: int
    method: UncertaintyMethod = "margin"
    head_weights: Mapping[HeadName, float] | None = None  # None: room 1, condition 1, signs 0.5
    diversity: DiversityMethod = "kmeans"
    pool_factor: int = 10  # candidates for the diversity step, as a multiple of the budget
    # 0 = off: embeddings of distinct photos can be closer than edited copies of one photo.
    near_duplicate_cosine_distance: float = 0.0
    # Hamming radius over all hash columns given (pHash + dHash: 0..128).
    near_duplicate_hash_bits: int = 16
    # k-means: which photo of a cluster. Central beat most-uncertain on the validation pool
    # (docs/active-learning.md): with few labels, typical photos teach more.
    pick: Literal["uncertain", "central"] = "central"
    seed: int = 0  # k-means initialisation

    def with_budget(self, budget: int) -> SelectionParams:
        return replace(self, budget=budget)

    def weights(self) -> Mapping[HeadName, float]:
        return self.head_weights or {"room": 1.0, "condition": 1.0, "signs": 0.5}


def diversity_space(embeddings: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Embeddings standardised per dimension (by `reference`'s statistics), then L2-normalised.

    Pooled backbone features are non-negative and share a large common direction, so raw cosine
    distances between different photos are tiny; centring restores the contrast.
    """
    e = np.asarray(embeddings, dtype=np.float64)
    ref = e if reference is None else np.asarray(reference, dtype=np.float64)
    z = (e - ref.mean(axis=0)) / (ref.std(axis=0) + 1e-6)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), _EPS)


def unit_rows(embeddings: np.ndarray) -> np.ndarray:
    """The model's embeddings L2-normalised, as they are: the space of the near-duplicate test.

    Not `diversity_space`: standardising by the photos at hand stretches whatever differences
    they have to unit scale, so a pool of copies of one photo (or one photo beside its labelled
    copy) comes out spread across the sphere and no copy would be blocked. A zero embedding has
    no direction and is a near-duplicate of nothing (its hashes still apply).
    """
    e = np.asarray(embeddings, dtype=np.float64)
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), _EPS)


def nearest_cosine_distance(rows: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Each of `rows`' smallest cosine distance to any of `others` (both unit rows, (N, D) and
    (M, D) with M > 0), a block of rows at a time."""
    out = np.empty(len(rows))
    step = max(1, _BLOCK_ELEMENTS // len(others))
    for start in range(0, len(rows), step):
        out[start : start + step] = 1.0 - (rows[start : start + step] @ others.T).max(axis=1)
    return out


def hash_distance(hashes: np.ndarray, one: np.ndarray) -> np.ndarray:
    """Hamming distance of every row of (N, H) uint64 hashes to one row (H,), summed over H."""
    x = np.bitwise_xor(np.asarray(hashes, dtype=np.uint64), np.asarray(one, dtype=np.uint64))
    return np.bitwise_count(x).sum(axis=-1).astype(np.int64)


def _as_columns(hashes: np.ndarray | None) -> np.ndarray | None:
    if hashes is None:
        return None
    h = np.asarray(hashes, dtype=np.uint64)
    return h[:, None] if h.ndim == 1 else h


class _Blocker:
    """Which candidates are near-duplicates of something labelled or picked already."""

    def __init__(
        self,
        emb: np.ndarray,
        hashes: np.ndarray | None,
        params: SelectionParams,
        *,
        labelled_emb: np.ndarray | None,
        labelled_hashes: np.ndarray | None,
    ) -> None:
        self.emb, self.hashes, self.params = emb, hashes, params
        self.blocked = np.zeros(len(emb), dtype=bool)
        if labelled_emb is not None and len(labelled_emb) and params.near_duplicate_cosine_distance:
            nearest = nearest_cosine_distance(emb, labelled_emb)
            self.blocked |= nearest < params.near_duplicate_cosine_distance
        if hashes is not None and labelled_hashes is not None:
            for h in labelled_hashes:
                self.blocked |= hash_distance(hashes, h) <= params.near_duplicate_hash_bits

    def pick(self, i: int) -> None:
        if self.params.near_duplicate_cosine_distance:
            self.blocked |= (
                1.0 - self.emb @ self.emb[i] < self.params.near_duplicate_cosine_distance
            )
        if self.hashes is not None:
            self.blocked |= hash_distance(self.hashes, self.hashes[i]) <= (
                self.params.near_duplicate_hash_bits
            )
        self.blocked[i] = True


def _k_center(
    uncertainty: np.ndarray, emb: np.ndarray, blocker: _Blocker, budget: int, min_dist: np.ndarray
) -> list[int]:
    chosen: list[int] = []
    while len(chosen) < budget:
        # Until there is a centre, distance is flat and the most uncertain photo goes first.
        gain = np.where(blocker.blocked, -np.inf, uncertainty * np.minimum(min_dist, 1.0))
        best = int(np.argmax(gain))
        if not np.isfinite(gain[best]):
            break
        chosen.append(best)
        min_dist = np.minimum(min_dist, 1.0 - emb @ emb[best])
        blocker.pick(best)
    return chosen


def _k_means(
    uncertainty: np.ndarray,
    emb: np.ndarray,
    blocker: _Blocker,
    budget: int,
    *,
    seed: int,
    pick: Literal["uncertain", "central"],
) -> list[int]:
    """One photo per k-means cluster (uncertainty-weighted): its most uncertain or most central,
    the picks most uncertain first. Clusters come out in no order of value, and a user who
    labels only the first picks of a batch (push keeps its order, Label Studio serves tasks in
    it) should get its most valuable ones; a runner-up taken when its cluster's first choice
    was blocked is ranked with the others."""
    from sklearn.cluster import KMeans

    k = min(budget, len(emb))
    km = KMeans(n_clusters=k, n_init=1, random_state=seed)
    labels = km.fit_predict(emb, sample_weight=np.maximum(uncertainty, 1e-6))
    if pick == "central":
        rank = -np.linalg.norm(emb - km.cluster_centers_[labels], axis=1)
    else:
        rank = uncertainty
    # Rank within a cluster first, so a cluster's runner-up replaces a blocked first choice.
    order = sorted(range(len(emb)), key=lambda i: -rank[i])
    by_cluster: dict[int, list[int]] = {}
    for i in order:
        by_cluster.setdefault(int(labels[i]), []).append(i)
    chosen: list[int] = []
    while len(chosen) < budget and not blocker.blocked.all():
        before = len(chosen)
        for members in by_cluster.values():
            free = [i for i in members if not blocker.blocked[i]]
            if free and len(chosen) < budget:
                chosen.append(free[0])
                blocker.pick(free[0])
        if len(chosen) == before:
            break
    return sorted(chosen, key=lambda i: -uncertainty[i])  # stable: warm_start keeps its order


def _candidate_pool(
    uncertainty: np.ndarray,
    near: np.ndarray,
    hashes: np.ndarray | None,
    params: SelectionParams,
    *,
    near_done: np.ndarray | None,
    labelled_hashes: np.ndarray | None,
) -> np.ndarray:
    """Indices of the candidates for the diversity step: the `budget x pool_factor` most
    uncertain photos that are near-duplicates neither of a labelled photo nor of a more
    uncertain photo already in the pool. Taking the top of the ranking as it is would let a
    burst of copies (of one another, or of labelled photos) fill the pool, and the batch would
    come out short of the budget while other photos wait. The ranking is read a pool's length
    at a time, so it costs no more than before when the top has no copies. `near` and
    `near_done`: the candidates' and labelled photos' embeddings in `unit_rows` space."""
    size = max(params.budget * params.pool_factor, 1)
    order = np.argsort(-uncertainty, kind="stable")
    pool: list[int] = []
    for start in range(0, len(order), size):
        chunk = order[start : start + size]
        # Earlier chunks' pool members block their copies here as labelled photos do.
        kept = np.array(pool, dtype=np.int64)
        ref_emb = near[kept] if near_done is None else np.concatenate([near_done, near[kept]])
        ref_hashes = None if hashes is None else hashes[kept]
        if ref_hashes is not None and labelled_hashes is not None:
            ref_hashes = np.concatenate([labelled_hashes, ref_hashes])
        blocker = _Blocker(
            near[chunk],
            None if hashes is None else hashes[chunk],
            params,
            labelled_emb=ref_emb,
            labelled_hashes=ref_hashes,
        )
        for j, i in enumerate(chunk):
            if blocker.blocked[j]:
                continue
            pool.append(int(i))
            if len(pool) == size:
                return np.array(pool, dtype=np.int64)
            blocker.pick(j)
    return np.array(pool, dtype=np.int64)


def _check_rows(n: int, **given: np.ndarray | None) -> None:
    wrong = {k: len(v) for k, v in given.items() if v is not None and len(v) != n}
    if wrong:
        counts = ", ".join(f"{k} {m}" for k, m in wrong.items())
        raise ValueError(f"select_batch: {n} photos' embeddings, but {counts} rows")


def select_batch(
    probs: HeadProbabilities,
    embeddings: np.ndarray,
    params: SelectionParams,
    *,
    labelled_embeddings: np.ndarray | None = None,
    hashes: np.ndarray | None = None,
    labelled_hashes: np.ndarray | None = None,
) -> list[int]:
    """Indices of up to `budget` photos: uncertain, spread out, no two near-duplicates.

    `hashes` are uint64, (N,) or (N, H) (e.g. pHash and dHash): distances add up over columns.
    Every per-photo input must have one row per photo (ValueError naming the counts): a
    mismatch would pick among some photos only, or block near-duplicates of the wrong ones.
    (`labelled_hashes` are of photos of their own: labelled ones, and any already pushed.)
    """
    n = len(embeddings)
    _check_rows(n, room=probs.room, condition=probs.condition, signs=probs.signs, hashes=hashes)
    if n == 0 or params.budget <= 0:
        return []
    labelled = (
        labelled_embeddings
        if labelled_embeddings is not None and len(labelled_embeddings) > 0
        else None
    )
    both = embeddings if labelled is None else np.concatenate([embeddings, labelled])
    uncertainty = combined_uncertainty(probs, method=params.method, head_weights=params.weights())
    space = diversity_space(embeddings, both)
    done = None if labelled is None else diversity_space(labelled, both)
    columns = _as_columns(hashes)
    near = unit_rows(embeddings)
    pool = _candidate_pool(
        uncertainty,
        near,
        columns,
        params,
        near_done=None if labelled is None else unit_rows(labelled),
        labelled_hashes=_as_columns(labelled_hashes),
    )
    if len(pool) == 0:
        return []
    emb = space[pool]
    # The pool holds no near-duplicate of a labelled photo nor two of one another; the blocker
    # still guards each pick.
    blocker = _Blocker(
        near[pool],
        None if columns is None else columns[pool],
        params,
        labelled_emb=None,
        labelled_hashes=None,
    )
    if params.diversity == "kmeans":
        chosen = _k_means(
            uncertainty[pool], emb, blocker, params.budget, seed=params.seed, pick=params.pick
        )
    else:
        start = np.full(len(pool), 2.0) if done is None else nearest_cosine_distance(emb, done)
        chosen = _k_center(uncertainty[pool], emb, blocker, params.budget, start)
    return [int(pool[i]) for i in chosen]


def warm_start(
    embeddings: np.ndarray,
    n: int,
    *,
    seed: int,
    hashes: np.ndarray | None = None,
    params: SelectionParams | None = None,
) -> list[int]:
    """A first set to label before any model exists: the most central photo of n k-means clusters.

    Central rather than extreme photos: with a handful of labels, typical examples teach a
    learner more than outliers (which k-center greedy would pick first). Of `params` (default:
    configs/annotation.yaml `selection`) only the near-duplicate radii apply: there is no
    uncertainty yet, so every photo is a candidate and the pick is always the central one.
    """
    if n <= 0 or len(embeddings) == 0:
        return []
    if params is None:
        from annotation.settings import get_annotation_config

        params = get_annotation_config().selection.params(n)
    emb = diversity_space(embeddings)
    blocker = _Blocker(
        unit_rows(embeddings), _as_columns(hashes), params, labelled_emb=None, labelled_hashes=None
    )
    return _k_means(np.ones(len(emb)), emb, blocker, n, seed=seed, pick="central")


def short_by(picked: int, *, budget: int, candidates: int) -> int:
    """Candidates a batch left out although its budget had room: each is a near-duplicate of a
    pick or of a labelled photo (selection stops short of its budget for no other reason)."""
    return candidates - picked if picked < min(budget, candidates) else 0


def select_photos(
    scores: Sequence[PhotoScore],
    params: SelectionParams,
    *,
    labelled: Sequence[PhotoScore] = (),
    hashes: np.ndarray | None = None,
    labelled_hashes: np.ndarray | None = None,
    method: UncertaintyMethod | None = None,
    head_weights: Mapping[HeadName, float] | None = None,
) -> list[int]:
    """Indices into `scores` of the photos to label next, best first.

    `method` and `head_weights`, when given, override the ones in `params`.
    """
    if not scores:
        return []
    params = replace(
        params, method=method or params.method, head_weights=head_weights or params.head_weights
    )
    chosen = select_batch(
        HeadProbabilities.from_scores(scores),
        np.stack([s.embedding for s in scores]),
        params,
        labelled_embeddings=np.stack([s.embedding for s in labelled]) if labelled else None,
        hashes=hashes,
        labelled_hashes=labelled_hashes,
    )
    logger.info("selected %d of %d unlabelled photos", len(chosen), len(scores))
    left_out = short_by(len(chosen), budget=params.budget, candidates=len(scores))
    if left_out:
        logger.warning(
            "%d photo(s) picked of a budget of %d: the other %d candidate(s) are near-duplicates "
            "of a pick or of a photo already labelled",
            len(chosen),
            params.budget,
            left_out,
        )
    return chosen
