"""Active learning: which unlabelled photos are most worth an annotator's time.

Score = combined per-head uncertainty (entropy or margin, each normalised to 0..1, weighted).
Diversity = uncertainty-weighted k-center greedy on the model's L2-normalised embeddings: each
pick maximises uncertainty x distance to everything already labelled or picked, so a batch
does not spend labels on one cluster. Near-duplicates (embedding cosine distance below a
threshold, or perceptual hashes within a radius) are never picked together, nor next to a
photo already labelled.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from shanyraq.taxonomy import HeadName
from vision.score import PhotoScore

logger = logging.getLogger(__name__)

UncertaintyMethod = Literal["entropy", "margin"]
_EPS = 1e-12


def categorical_uncertainty(probs: np.ndarray, method: UncertaintyMethod) -> np.ndarray:
    """(N, K) probabilities -> (N,) uncertainty in 0..1 (1 = no idea)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    if method == "entropy":
        return -(p * np.log(p)).sum(axis=1) / np.log(p.shape[1])
    top2 = np.sort(p, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def binary_uncertainty(probs: np.ndarray, method: UncertaintyMethod) -> np.ndarray:
    """(N, S) independent sign probabilities -> (N,) mean uncertainty over signs."""
    p = np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1 - _EPS)
    if method == "entropy":
        per_sign = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    else:
        per_sign = 1.0 - np.abs(2 * p - 1)
    return per_sign.mean(axis=1)


def head_uncertainties(
    scores: Sequence[PhotoScore], method: UncertaintyMethod
) -> dict[HeadName, np.ndarray]:
    if not scores:
        return {"room": np.zeros(0), "condition": np.zeros(0), "signs": np.zeros(0)}
    room = np.array([list(s.room.values()) for s in scores])
    condition = np.array([list(s.condition.values()) for s in scores])
    signs = np.array([list(s.signs.values()) for s in scores])
    return {
        "room": categorical_uncertainty(room, method),
        "condition": categorical_uncertainty(condition, method),
        "signs": binary_uncertainty(signs, method) if signs.size else np.zeros(len(scores)),
    }


def combined_uncertainty(
    scores: Sequence[PhotoScore],
    *,
    method: UncertaintyMethod,
    head_weights: Mapping[HeadName, float],
) -> np.ndarray:
    """Weighted mean of the heads' uncertainties, per photo (0..1)."""
    per_head = head_uncertainties(scores, method)
    total = sum(head_weights.values()) or 1.0
    combined = sum(per_head[h] * w for h, w in head_weights.items())
    return np.asarray(combined, dtype=np.float64) / total


def _normalise(embeddings: np.ndarray) -> np.ndarray:
    e = np.asarray(embeddings, dtype=np.float64)
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), _EPS)


def _hamming(a: np.ndarray, b: int) -> np.ndarray:
    x = np.bitwise_xor(a, np.uint64(b))
    return np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)


@dataclass(frozen=True)
class SelectionParams:
    budget: int
    near_duplicate_cosine_distance: float = 0.02
    near_duplicate_hash_bits: int = 6
    pool_factor: int = 4


def k_center_select(
    uncertainty: np.ndarray,
    embeddings: np.ndarray,
    params: SelectionParams,
    *,
    labelled_embeddings: np.ndarray | None = None,
    hashes: np.ndarray | None = None,
    labelled_hashes: np.ndarray | None = None,
) -> list[int]:
    """Indices of up to `budget` photos: uncertain, spread out, no two near-duplicates."""
    n = len(uncertainty)
    if n == 0 or params.budget <= 0:
        return []
    emb = _normalise(embeddings)
    pool = np.argsort(-uncertainty, kind="stable")[: max(params.budget * params.pool_factor, 1)]
    min_dist = np.full(len(pool), 2.0)  # cosine distance to the nearest centre; 2 = none yet
    blocked = np.zeros(len(pool), dtype=bool)
    if labelled_embeddings is not None and len(labelled_embeddings):
        min_dist = (1.0 - emb[pool] @ _normalise(labelled_embeddings).T).min(axis=1)
    blocked |= min_dist < params.near_duplicate_cosine_distance
    if hashes is not None and labelled_hashes is not None:
        for h in labelled_hashes:
            blocked |= _hamming(hashes[pool], int(h)) <= params.near_duplicate_hash_bits
    chosen: list[int] = []
    while len(chosen) < params.budget:
        # Until there is a centre, distance is flat and the most uncertain photo goes first.
        gain = np.where(blocked, -np.inf, uncertainty[pool] * np.minimum(min_dist, 1.0))
        best = int(np.argmax(gain))
        if not np.isfinite(gain[best]):
            break
        chosen.append(int(pool[best]))
        dist = 1.0 - emb[pool] @ emb[pool[best]]
        min_dist = np.minimum(min_dist, dist)
        blocked |= dist < params.near_duplicate_cosine_distance
        if hashes is not None:
            blocked |= (
                _hamming(hashes[pool], int(hashes[pool[best]])) <= params.near_duplicate_hash_bits
            )
        blocked[best] = True
    return chosen


def select_photos(
    scores: Sequence[PhotoScore],
    params: SelectionParams,
    *,
    method: UncertaintyMethod,
    head_weights: Mapping[HeadName, float],
    labelled: Sequence[PhotoScore] = (),
    hashes: np.ndarray | None = None,
    labelled_hashes: np.ndarray | None = None,
) -> list[int]:
    """Indices into `scores` of the photos to label next, best first."""
    if not scores:
        return []
    uncertainty = combined_uncertainty(scores, method=method, head_weights=head_weights)
    embeddings = np.stack([s.embedding for s in scores])
    labelled_emb = np.stack([s.embedding for s in labelled]) if labelled else None
    chosen = k_center_select(
        uncertainty,
        embeddings,
        params,
        labelled_embeddings=labelled_emb,
        hashes=hashes,
        labelled_hashes=labelled_hashes,
    )
    logger.info("selected %d of %d unlabelled photos", len(chosen), len(scores))
    return chosen
