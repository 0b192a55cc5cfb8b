"""How unsure the model is of a photo: each head's uncertainty, and their weighted mean.

Entropy or margin per head, each normalised to 0..1 (1 = no idea); the sign head's independent
probabilities are averaged over signs. Active learning (`annotation.select`) ranks photos by
the combination, and pre-annotations (`annotation.tasks`) carry it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from shanyraq.taxonomy import HeadName
from vision.score import PhotoScore

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


@dataclass(frozen=True)
class HeadProbabilities:
    """Per-head probabilities of N photos: room (N, R), condition (N, K), signs (N, S)."""

    room: np.ndarray
    condition: np.ndarray
    signs: np.ndarray

    @classmethod
    def from_scores(cls, scores: Sequence[PhotoScore]) -> HeadProbabilities:
        n = len(scores)
        return cls(
            room=np.array([list(s.room.values()) for s in scores]).reshape(n, -1),
            condition=np.array([list(s.condition.values()) for s in scores]).reshape(n, -1),
            signs=np.array([list(s.signs.values()) for s in scores]).reshape(n, -1),
        )

    def uncertainties(self, method: UncertaintyMethod) -> dict[HeadName, np.ndarray]:
        """Each head's uncertainty per photo; 1 (no idea) where the model gave no number for
        the head (NaN or infinite: vision.score.PhotoScore), never NaN, which would sort a
        photo the model cannot read as the surest and break k-means' weights."""
        n = len(self.room)
        found: dict[HeadName, np.ndarray] = {
            "room": categorical_uncertainty(self.room, method) if n else np.zeros(0),
            "condition": categorical_uncertainty(self.condition, method) if n else np.zeros(0),
            "signs": binary_uncertainty(self.signs, method) if self.signs.size else np.zeros(n),
        }
        for head, values in found.items():
            if values.size:
                unread = ~np.isfinite(getattr(self, head).reshape(n, -1)).all(axis=1)
                found[head] = np.where(unread, 1.0, values)
        return found


def combined_uncertainty(
    probs: HeadProbabilities | Sequence[PhotoScore],
    *,
    method: UncertaintyMethod,
    head_weights: Mapping[HeadName, float],
) -> np.ndarray:
    """Weighted mean of the heads' uncertainties, per photo (0..1)."""
    if not isinstance(probs, HeadProbabilities):
        probs = HeadProbabilities.from_scores(probs)
    per_head = probs.uncertainties(method)
    total = sum(head_weights.values()) or 1.0
    combined = sum(per_head[h] * w for h, w in head_weights.items())
    return np.asarray(combined, dtype=np.float64) / total
