"""How unsure the model is of a photo: each head's uncertainty, and their weighted mean.

Entropy or margin per head, each normalised to 0..1 (1 = no idea); the sign head's independent
probabilities are averaged over signs. In the combination, condition and signs count by the
model's probability that the photo shows a home: a not-a-home photo has neither (the loss
ignores them, Label Studio hides them), so labelling one teaches them nothing. Active learning
(`annotation.select`) ranks photos by the combination, and pre-annotations (`annotation.tasks`)
carry it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from shanyraq.taxonomy import HeadName, get_taxonomy
from vision.score import PhotoScore

UncertaintyMethod = Literal["entropy", "margin"]
_EPS = 1e-12
# Heads a not-a-home photo has no label for: their uncertainty counts by p(home).
_HOME_ONLY: tuple[HeadName, ...] = ("condition", "signs")


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
    """Per-head probabilities of N photos: room (N, R), condition (N, K), signs (N, S).

    not_dwelling: the room column meaning "not a home" (configs/taxonomy.yaml); None counts
    every photo as a home.
    """

    room: np.ndarray
    condition: np.ndarray
    signs: np.ndarray
    not_dwelling: int | None = None

    @classmethod
    def from_scores(cls, scores: Sequence[PhotoScore]) -> HeadProbabilities:
        n = len(scores)
        rooms = list(scores[0].room) if scores else []
        not_dwelling = get_taxonomy().not_dwelling
        return cls(
            room=np.array([list(s.room.values()) for s in scores]).reshape(n, -1),
            condition=np.array([list(s.condition.values()) for s in scores]).reshape(n, -1),
            signs=np.array([list(s.signs.values()) for s in scores]).reshape(n, -1),
            not_dwelling=rooms.index(not_dwelling) if not_dwelling in rooms else None,
        )

    def home_probability(self) -> np.ndarray:
        """(N,) the model's probability that each photo shows a home: 1 - p(not_dwelling);
        1 where there is no such column or the model gave no finite number for it (an unread
        photo stays as uncertain as can be)."""
        n = len(self.room)
        if self.not_dwelling is None or n == 0:
            return np.ones(n)
        p_home = 1.0 - np.asarray(self.room, dtype=np.float64).reshape(n, -1)[:, self.not_dwelling]
        return np.where(np.isfinite(p_home), np.clip(p_home, 0.0, 1.0), 1.0)

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
    """Weighted mean of the heads' uncertainties, per photo (0..1); condition's and signs'
    terms are multiplied by the photo's home probability (the weights' sum still divides)."""
    if not isinstance(probs, HeadProbabilities):
        probs = HeadProbabilities.from_scores(probs)
    per_head = probs.uncertainties(method)
    p_home = probs.home_probability()
    total = sum(head_weights.values()) or 1.0
    combined = sum(
        per_head[h] * w * (p_home if h in _HOME_ONLY else 1.0) for h, w in head_weights.items()
    )
    return np.asarray(combined, dtype=np.float64) / total
