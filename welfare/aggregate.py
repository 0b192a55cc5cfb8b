"""Photos to family: per-room and overall summaries of the usable photos' calibrated scores.

A photo is usable (`usable`, the one per-photo rule) when the engine did not abstain, its
quality check did not fail, it was not reused from another family, it is no repeat of a photo
of its own family already counted (the same photo sent again re-encoded, resized or as a
screenshot: its evidence would weigh twice) and it shows a dwelling. Everything else is
counted, not used as evidence. A score with a probability that is not a
finite number (NaN or inf) counts as abstained, as the engine rules (vision.engine.
abstain_reasons): one such score read as evidence would make the family's mean grade NaN, and
its min and max would depend on the photos' order.
A photo's room is its top room (`room_of`), ties broken as the engine breaks them, never by the
order its score lists the rooms in. A family with no usable photo gets NaN visual features (the
fusion model routes missing values) and the counts that send it to review.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from shanyraq.errors import ConfigError
from shanyraq.taxonomy import Taxonomy, get_taxonomy
from vision.score import ABSTAIN_QUALITY, PhotoScore

NAN = float("nan")


@dataclass(frozen=True)
class PhotoFlags:
    """What the quality gate and the reuse check said about one photo.

    `repeated`: the same photo as an earlier photo of the same family that is counted (the
    service verifies it as the cross-family reuse check does); no fraud signal, only evidence
    that is already in. welfare.assess hashes it only when true, so the input hashes of
    assessments without a repeat stay what they were.
    """

    quality_status: str = "pass"  # "pass" | "warn" | "fail" (vision.quality)
    reused: bool = False
    repeated: bool = False


@dataclass(frozen=True)
class RoomStats:
    """Summary of the usable photos of one room type (or of all rooms)."""

    count: int
    condition_mean: float
    condition_min: float
    condition_max: float
    sign_mean: dict[str, float]
    sign_max: dict[str, float]


@dataclass(frozen=True)
class FamilyVisual:
    """A family's photos summarised: counts, coverage, per-room and overall statistics."""

    n_photos: int
    n_usable: int
    n_abstained: int  # the engine abstained, or a probability is not a finite number
    n_quality_failed: int  # its quality flag says fail, or the engine abstained for quality
    n_reused: int
    room_coverage: float
    overall: RoomStats
    per_room: dict[str, RoomStats] = field(default_factory=dict)
    n_repeated: int = 0  # a photo of the family already counted, sent again

    @property
    def n_flagged(self) -> int:
        return self.n_photos - self.n_usable

    @property
    def flagged_share(self) -> float:
        return self.n_flagged / self.n_photos if self.n_photos else 0.0


def aggregate(
    scores: Sequence[PhotoScore],
    *,
    flags: Sequence[PhotoFlags | None] | None = None,
    expected_rooms: Sequence[str],
    taxonomy: Taxonomy | None = None,
) -> FamilyVisual:
    """Summarise one family's photos; `flags` (if given) is aligned with `scores`."""
    taxonomy = taxonomy or get_taxonomy()
    if flags is not None and len(flags) != len(scores):
        raise ValueError(f"{len(flags)} photo flags for {len(scores)} scores; align them")
    if not expected_rooms:  # coverage is a share of them
        raise ConfigError(
            "configs/welfare.yaml: key 'fusion.expected_rooms' is empty; list the dwelling rooms "
            f"a family's photos should cover ({', '.join(taxonomy.dwelling_rooms)})"
        )
    unknown = sorted(set(expected_rooms) - set(taxonomy.dwelling_rooms))
    if unknown:
        # Room names are the taxonomy's: a stale welfare.yaml must not silently drop coverage.
        raise ConfigError(
            f"configs/welfare.yaml: key 'fusion.expected_rooms': {unknown} are not dwelling "
            f"rooms of the taxonomy ({', '.join(taxonomy.dwelling_rooms)})"
        )
    aligned = list(flags) if flags is not None else [None] * len(scores)
    kept: list[tuple[str, PhotoScore]] = []
    n_abstained = failed = reused = repeated = 0
    for score, flag in zip(scores, aligned, strict=True):
        flag = flag or PhotoFlags()
        n_abstained += abstained(score)
        # A scores file (`score --json`'s 'score' objects) carries no quality verdict: the
        # engine's quality_fail reason is the one sign of a failed photo there.
        failed += flag.quality_status == "fail" or ABSTAIN_QUALITY in score.abstain_reasons
        reused += flag.reused
        repeated += flag.repeated
        if usable(score, flag, taxonomy):
            kept.append((room_of(score, taxonomy), score))
    rooms = {room: [s for r, s in kept if r == room] for room in taxonomy.dwelling_rooms}
    per_room = {room: _stats(group, taxonomy) for room, group in rooms.items()}
    return FamilyVisual(
        n_photos=len(scores),
        n_usable=len(kept),
        n_abstained=n_abstained,
        n_quality_failed=failed,
        n_reused=reused,
        room_coverage=room_coverage(per_room, expected_rooms),
        overall=_stats([s for _, s in kept], taxonomy),
        per_room=per_room,
        n_repeated=repeated,
    )


def usable(score: PhotoScore, flag: PhotoFlags | None, taxonomy: Taxonomy) -> bool:
    """The per-photo rule: whether a photo's scores are evidence of its family's home. Not
    when the score abstained (`abstained`), its quality check failed, it was reused from
    another family, it repeats a photo of the family already counted, or it shows no dwelling
    (`not_a_dwelling`). The family page names the same reasons beside the photo
    (serving.photo_evidence.left_out_reasons)."""
    flag = flag or PhotoFlags()
    return not (
        abstained(score)
        or flag.quality_status == "fail"
        or flag.reused
        or flag.repeated
        or not_a_dwelling(score, taxonomy)
    )


def abstained(score: PhotoScore) -> bool:
    """Whether the score abstained: the engine said so, or a probability is not a finite
    number (the engine counts that as low confidence: vision.engine.abstain_reasons)."""
    return score.abstain or not has_finite_probabilities(score)


def not_a_dwelling(score: PhotoScore, taxonomy: Taxonomy) -> bool:
    """Whether the photo shows no dwelling: its probabilities are numbers and its top room
    (`room_of`, a tie with not_dwelling included) is not_dwelling, whether or not the score
    abstained for it. Its signs are never read."""
    return has_finite_probabilities(score) and room_of(score, taxonomy) == taxonomy.not_dwelling


def room_of(score: PhotoScore, taxonomy: Taxonomy) -> str:
    """The photo's top room. On a tie, not_dwelling wins (a sure room tied with it is no sure
    home, as vision.engine.abstain_reasons rules), else the first in the taxonomy's order: the
    order a score lists its rooms in (a file's, a database's) never decides it. For a score
    keyed in the taxonomy's order, as the engine and welfare.simulate write them, this is
    `PhotoScore.top_room` but for a tie with not_dwelling."""
    top = max(score.room.values())
    tied = [room for room in taxonomy.room_names if score.room.get(room) == top]
    if not tied:  # a room the taxonomy lacks is top: what the score itself says
        return score.top_room
    return taxonomy.not_dwelling if taxonomy.not_dwelling in tied else tied[0]


def has_finite_probabilities(score: PhotoScore) -> bool:
    """Whether the model gave a number for every probability (the embedding is no evidence):
    room and condition (`PhotoScore.has_numbers`), and every sign it gives."""
    return score.has_numbers and all(math.isfinite(p) for p in score.signs.values())


def _stats(scores: Sequence[PhotoScore], taxonomy: Taxonomy) -> RoomStats:
    if not scores:
        empty = dict.fromkeys(taxonomy.sign_names, NAN)
        return RoomStats(0, NAN, NAN, NAN, empty, dict(empty))
    conditions = [s.expected_condition for s in scores]
    sign_mean, sign_max = {}, {}
    for sign in taxonomy.sign_names:
        values = [s.signs.get(sign, NAN) for s in scores]
        known = [v for v in values if not math.isnan(v)]
        sign_mean[sign] = sum(known) / len(known) if known else NAN
        sign_max[sign] = max(known) if known else NAN
    return RoomStats(
        count=len(scores),
        condition_mean=sum(conditions) / len(conditions),
        condition_min=min(conditions),
        condition_max=max(conditions),
        sign_mean=sign_mean,
        sign_max=sign_max,
    )


def room_coverage(per_room: Mapping[str, RoomStats], rooms: Sequence[str]) -> float:
    """The share of `rooms` with a usable photo (per_room: a family's stats by room)."""
    covered = [room for room in rooms if (stats := per_room.get(room)) and stats.count]
    return len(covered) / len(rooms)
