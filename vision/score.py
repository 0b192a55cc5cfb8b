"""`PhotoScore`: what the engine says about one photo; the boundary type between vision and welfare.

Probabilities are calibrated (temperature-scaled) and keyed by the taxonomy's own labels,
so a consumer never depends on head order. A photo the model should not be trusted on carries
`abstain=True` and the reasons why; consumers must not read its scores as evidence.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shanyraq.json_values import finite_or_none

# Stable codes of why a photo's scores are not to be used.
ABSTAIN_NOT_DWELLING = "not_dwelling"
ABSTAIN_LOW_CONFIDENCE = "low_confidence"
ABSTAIN_QUALITY = "quality_fail"
ABSTAIN_REASONS = (ABSTAIN_NOT_DWELLING, ABSTAIN_LOW_CONFIDENCE, ABSTAIN_QUALITY)


def _from_json(p: float | None) -> float:
    """A stored number back as a float: null (the model gave no number) is NaN."""
    return math.nan if p is None else float(p)


def median_grade(condition: Mapping[int, float]) -> int:
    """The median of a grade distribution: the first grade whose cumulative reaches 0.5.

    This is the point estimate the photo model's metrics score (training.metrics
    `ordinal_median`, QWK and MAE), not the most probable grade: for a flat or two-peaked
    distribution the two differ, and annotators, reports and corrections would otherwise use
    a grade the model never reports.
    """
    cumulative = 0.0
    grades = sorted(condition)
    for grade in grades:
        cumulative += condition[grade]
        if cumulative >= 0.5 - 1e-9:
            return grade
    return grades[-1]


@dataclass(frozen=True)
class PhotoScore:
    """Calibrated scores for one photo.

    room: probability per room class (sums to 1).
    condition: probability per grade 1..5 (sums to 1); meaningless when the photo is not a home.
    signs: independent probability per sign.
    embedding: pooled backbone features (for diversity, drift and near-duplicate checks).

    A probability is NaN or infinite when the model gave no number (an fp16 overflow on the
    GPU, a broken model); such a score abstains (`low_confidence`), and `to_dict` writes those
    probabilities (and embedding values) as None (JSON null).
    """

    photo_sha256: str
    model_version: str
    room: dict[str, float]
    condition: dict[int, float]
    signs: dict[str, float]
    embedding: np.ndarray = field(repr=False, compare=False)
    abstain: bool = False
    abstain_reasons: tuple[str, ...] = ()

    @property
    def finite(self) -> bool:
        """Whether the model gave a finite number for every probability and embedding value.
        A score that is not cannot be a pre-annotation or a point in embedding space."""
        probs = [*self.room.values(), *self.condition.values(), *self.signs.values()]
        return all(math.isfinite(p) for p in probs) and bool(np.isfinite(self.embedding).all())

    @property
    def has_numbers(self) -> bool:
        """Whether room and condition probabilities are given and all finite numbers: a score
        that names a top room and a grade. A model that gave none (NaN or infinite, stored as
        null: `to_dict`) names neither, so such a score is no evidence."""
        values = (*self.room.values(), *self.condition.values())
        return bool(self.room) and bool(self.condition) and all(map(math.isfinite, values))

    @property
    def top_room(self) -> str:
        return max(self.room, key=lambda k: self.room[k])

    @property
    def expected_condition(self) -> float:
        """Mean grade under the condition distribution (an ordinal summary)."""
        return float(sum(grade * p for grade, p in self.condition.items()))

    @property
    def top_condition(self) -> int:
        return max(self.condition, key=lambda k: self.condition[k])

    @property
    def median_condition(self) -> int:
        """The median grade: the point estimate the metrics score (QWK, MAE); `median_grade`."""
        return median_grade(self.condition)

    def to_dict(self, *, with_embedding: bool = False) -> dict[str, Any]:
        """The score as JSON-ready values (the API, the database, `shanyraq score --json`).

        A probability that is not a finite number (NaN or inf: an fp16 overflow on the GPU, a
        broken model) is written as None (JSON null): `NaN` is not JSON, strict encoders
        (the API's responses, PostgreSQL's JSON column) refuse it. Such a score abstains
        (`low_confidence`, vision.engine.abstain_reasons), so no consumer reads its numbers.
        """
        out: dict[str, Any] = {
            "photo_sha256": self.photo_sha256,
            "model_version": self.model_version,
            "room": finite_or_none(self.room),
            "condition": finite_or_none({str(k): v for k, v in self.condition.items()}),
            "signs": finite_or_none(self.signs),
            "abstain": self.abstain,
            "abstain_reasons": list(self.abstain_reasons),
        }
        if with_embedding:
            out["embedding"] = finite_or_none([float(x) for x in self.embedding])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhotoScore:
        """The score `to_dict` wrote; a None (null) number reads back as NaN, so the
        score stays what the model said and still abstains wherever it is judged again."""
        return cls(
            photo_sha256=data["photo_sha256"],
            model_version=data["model_version"],
            room={k: _from_json(v) for k, v in data["room"].items()},
            condition={int(k): _from_json(v) for k, v in data["condition"].items()},
            signs={k: _from_json(v) for k, v in data["signs"].items()},
            embedding=np.asarray(
                [_from_json(x) for x in data.get("embedding", [])], dtype=np.float32
            ),
            abstain=bool(data.get("abstain", False)),
            abstain_reasons=tuple(data.get("abstain_reasons", ())),
        )


def score_shares(scores: Iterable[PhotoScore]) -> dict[str, dict[str, Any]]:
    """Per head, the photos counted and the share of each value among them: room, the top room
    of every photo; condition, the median grade (`median_grade`, the grade the model reports)
    of every photo the model does not call a non-dwelling, which has no condition. A score
    without numbers for room and condition (NaN: the model gave none) is no evidence: left out.

    The one way a population of scores is summed up: the drift report compares the service's
    photos with it (serving.reports), and a model artifact records its test photos' as the
    reference to compare with (metrics.score_reference, training.evaluate).
    """
    rooms: Counter[str] = Counter()
    grades: Counter[str] = Counter()
    for score in scores:
        if not score.has_numbers:
            continue
        rooms[score.top_room] += 1
        if ABSTAIN_NOT_DWELLING not in score.abstain_reasons:
            grades[str(score.median_condition)] += 1

    def shares(counts: Counter[str]) -> dict[str, Any]:
        n = sum(counts.values())
        return {"photos": n, "shares": {k: v / n for k, v in sorted(counts.items())}}

    return {"room": shares(rooms), "condition": shares(grades)}
