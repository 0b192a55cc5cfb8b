"""Simulated photo scores: a documented noise model from a planned photo's labels to a PhotoScore.

Training fusion models on tens of thousands of families cannot wait for every photo to be
rendered and scored, so `welfare train` simulates what the engine would say about each planned
photo. This is a stand-in for the real engine, not a measurement of it: figures reached with
simulated scores say how well fusion works *if* the vision model errs as described here.

Noise model (each figure is a field of `NoiseModel`):
- room: the true room is top with probability `room_accuracy`, else another room (a dwelling
  room, or not_dwelling with share `room_to_not_dwelling`); top probability drawn in
  [`room_top_low`, `room_top_high`], the rest spread at random.
- condition: the centre is the true grade, moved one grade up or down with probability
  `condition_off_by_one` (from grade 1 or 5 always inward, so the end grades are off as often
  as the others, as the report's data note says); the distribution is a discretised Gaussian
  around the centre plus N(0, `condition_jitter`) with a width drawn in
  [`condition_width_low`, `condition_width_high`] (calibration noise: some photos are sharper,
  some flatter than they should be).
- signs: a present sign scores Beta(6, 2) but is missed (Beta(1, 6)) with probability
  `sign_miss`; an absent sign scores Beta(1, 12) but is falsely seen (Beta(4, 3)) with
  probability `sign_false_alarm`.
- abstention: a photo planned as unusable fails quality (or is flagged reused when its reason
  says so; a `not_a_home` photo passes quality and is left to the room head). Every photo
  abstains as the engine rules (vision.engine.abstain_reasons with configs/engine.yaml
  `abstain`): `quality_fail` when it failed quality, `not_dwelling` when its top room is
  not_dwelling, `low_confidence` when a top probability is under the config's minimum (a
  not-a-home photo misread as a dwelling room has a flat condition distribution, so it
  abstains so); a failed photo gets the latter two after `quality_fail` where they apply, as
  the engine lists them. A photo the rule lets through abstains with `low_confidence` with
  probability `low_confidence_rate`.
- streams: each family draws from its own random stream, derived from the run's seed and a
  SHA-256 of its id, so a family's scores depend only on the seed, its id and its photos (not
  on which families are simulated with it, or in what order).

The figures are the draws' odds, not what the scores show: on the 9,039 photos of 1,500
generated families (seed 7, scores seed 8) the median grade is off 30 % of the time (29 % by
one grade, 0.8 % by two: the jitter moves it too), a present sign scores under 0.5 20 % of the
time and an absent one 0.5 or more 2 % (Beta(6, 2) and Beta(4, 3) straddle 0.5), and 4.4 % of
the photos that pass quality and are not called not_dwelling abstain with low_confidence
(4.3 % drawn; the rest are 12 of the 101 not-a-home photos, misread as a room, whose flat
grade the engine's rule refuses).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from shanyraq.taxonomy import Taxonomy, get_taxonomy
from vision.score import ABSTAIN_LOW_CONFIDENCE, PhotoScore
from welfare.aggregate import PhotoFlags

if TYPE_CHECKING:
    from vision.engine import AbstainConfig

SIMULATED_VERSION = "simulated-engine-2"
_REUSE_WORDS = ("reuse", "duplicate", "copy")
_NOT_HOME = "not_a_home"  # passes the quality gate; the engine itself says not_dwelling
# Narrower than this, the squared width underflows and every grade's probability is NaN; a
# thousandth of a grade already puts all the mass on one grade.
MIN_CONDITION_WIDTH = 1e-3


class PlannedPhotoLike(Protocol):
    """What the simulator reads from training.synth.families.PlannedPhoto."""

    @property
    def family_id(self) -> str: ...
    @property
    def room(self) -> str: ...
    @property
    def condition(self) -> int | None: ...
    @property
    def signs(self) -> Iterable[str]: ...
    @property
    def usable(self) -> bool: ...
    @property
    def unusable_reason(self) -> str | None: ...


@dataclass(frozen=True)
class NoiseModel:
    room_accuracy: float = 0.92
    room_to_not_dwelling: float = 0.1
    room_top_low: float = 0.55
    room_top_high: float = 0.97
    condition_off_by_one: float = 0.25
    condition_jitter: float = 0.3
    condition_width_low: float = 0.45
    condition_width_high: float = 0.9
    sign_miss: float = 0.15
    sign_false_alarm: float = 0.03
    low_confidence_rate: float = 0.04

    def __post_init__(self) -> None:
        """Refuse figures under which the noise model would not do what the module says
        (and what the report's data note prints from these figures)."""
        shares = (
            "room_accuracy",
            "room_to_not_dwelling",
            "condition_off_by_one",
            "sign_miss",
            "sign_false_alarm",
            "low_confidence_rate",
        )
        problems = [
            f"{name} must be in [0, 1]" for name in shares if not 0 <= getattr(self, name) <= 1
        ]
        if not 0.5 < self.room_top_low <= self.room_top_high <= 1:
            # At 0.5 or under, another room can outscore the top one: room_accuracy would lie.
            problems.append("need 0.5 < room_top_low <= room_top_high <= 1")
        if not MIN_CONDITION_WIDTH <= self.condition_width_low <= self.condition_width_high:
            problems.append(
                f"need {MIN_CONDITION_WIDTH:g} <= condition_width_low <= condition_width_high"
            )
        if not self.condition_jitter >= 0:
            problems.append("condition_jitter cannot be negative")
        # Infinite figures make every condition probability NaN (or crash the draw).
        problems += [
            f"{name} must be a finite number"
            for name in ("condition_jitter", "condition_width_high")
            if not math.isfinite(getattr(self, name))
        ]
        if problems:
            raise ValueError(f"NoiseModel: {'; '.join(problems)}; give figures that fit")


@dataclass(frozen=True)
class SimulatedPhoto:
    family_id: str
    score: PhotoScore
    flags: PhotoFlags


def simulate_photo(
    photo: PlannedPhotoLike,
    *,
    index: int,
    rng: np.random.Generator,
    noise: NoiseModel = NoiseModel(),
    taxonomy: Taxonomy | None = None,
    abstain: AbstainConfig | None = None,
) -> SimulatedPhoto:
    """One planned photo's simulated engine output and quality/reuse flags; `abstain`: the
    engine's abstain thresholds (default: configs/engine.yaml's)."""
    # Imported here: vision.engine pulls in OpenCV, which simulating scores otherwise never needs.
    from vision.engine import abstain_reasons, get_engine_config
    from vision.quality import QualityVerdict

    taxonomy = taxonomy or get_taxonomy()
    abstain = abstain if abstain is not None else get_engine_config().abstain
    room = _room_probs(photo.room, rng, noise, taxonomy)
    condition = _condition_probs(photo.condition, rng, noise, taxonomy)
    present = set(photo.signs)
    signs = {s: _sign_prob(s in present, rng, noise) for s in taxonomy.sign_names}
    reason = (photo.unusable_reason or "").lower()
    reused = not photo.usable and any(word in reason for word in _REUSE_WORDS)
    failed = not photo.usable and not reused and reason != _NOT_HOME
    # The engine's own rule: quality_fail for a failed photo, then not_dwelling, or a top room
    # or grade it is not sure of, as it lists them beside quality_fail for a real photo.
    verdict = QualityVerdict("fail") if failed else None
    reasons = abstain_reasons(
        room, condition, verdict, abstain=abstain, not_dwelling=taxonomy.not_dwelling, signs=signs
    )
    # Only a photo the rule lets through draws (a failed one never did: streams unchanged).
    if not reasons and rng.random() < noise.low_confidence_rate:
        reasons = (ABSTAIN_LOW_CONFIDENCE,)
    sha = hashlib.sha256(f"{photo.family_id}:{index}".encode()).hexdigest()
    score = PhotoScore(
        photo_sha256=sha,
        model_version=SIMULATED_VERSION,
        room=room,
        condition=condition,
        signs=signs,
        embedding=np.zeros(0, dtype=np.float32),
        abstain=bool(reasons),
        abstain_reasons=reasons,
    )
    flags = PhotoFlags(quality_status="fail" if failed else "pass", reused=reused)
    return SimulatedPhoto(photo.family_id, score, flags)


def simulate_photos(
    photos: Sequence[PlannedPhotoLike], *, seed: int, noise: NoiseModel = NoiseModel()
) -> dict[str, list[SimulatedPhoto]]:
    """Every planned photo simulated, grouped by family id (order kept). Each family draws
    from its own stream (`family_rng`): its scores do not depend on the other families."""
    from vision.engine import get_engine_config

    taxonomy = get_taxonomy()
    abstain = get_engine_config().abstain
    planned: dict[str, list[PlannedPhotoLike]] = {}
    for photo in photos:
        planned.setdefault(str(photo.family_id), []).append(photo)
    out: dict[str, list[SimulatedPhoto]] = {}
    for family_id, family in planned.items():
        rng = family_rng(seed, family_id)
        out[family_id] = [
            simulate_photo(photo, index=i, rng=rng, noise=noise, taxonomy=taxonomy, abstain=abstain)
            for i, photo in enumerate(family)
        ]
    return out


def family_rng(seed: int, family_id: str) -> np.random.Generator:
    """The random stream of one family in a run seeded `seed`: the seed's entropy with the
    family id's SHA-256 (stable across processes, unlike hash()) as its spawn key."""
    digest = hashlib.sha256(str(family_id).encode()).digest()
    key = tuple(int.from_bytes(digest[i : i + 4], "big") for i in range(0, 16, 4))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _room_probs(
    true_room: str, rng: np.random.Generator, noise: NoiseModel, taxonomy: Taxonomy
) -> dict[str, float]:
    names = taxonomy.room_names
    top = true_room
    if rng.random() > noise.room_accuracy:
        others = [r for r in taxonomy.dwelling_rooms if r != true_room]
        if true_room != taxonomy.not_dwelling and rng.random() < noise.room_to_not_dwelling:
            top = taxonomy.not_dwelling
        else:
            top = str(rng.choice(others))
    p_top = rng.uniform(noise.room_top_low, noise.room_top_high)
    rest = rng.dirichlet(np.ones(len(names) - 1)) * (1 - p_top)
    others_iter = iter(rest)
    return {r: float(p_top) if r == top else float(next(others_iter)) for r in names}


def _condition_probs(
    true_grade: int | None, rng: np.random.Generator, noise: NoiseModel, taxonomy: Taxonomy
) -> dict[int, float]:
    grades = np.asarray(taxonomy.condition_values, dtype=float)
    if true_grade is None:  # not a home: a flat distribution, never read as evidence
        return {int(g): 1.0 / len(grades) for g in grades}
    centre = float(true_grade)
    if rng.random() < noise.condition_off_by_one:
        step = float(rng.choice([-1.0, 1.0]))
        # A move off the scale turns inward: clipping it away made grades 1 and 5 off half as often.
        centre += step if grades[0] <= centre + step <= grades[-1] else -step
    centre = float(np.clip(centre, grades[0], grades[-1])) + rng.normal(0, noise.condition_jitter)
    width = rng.uniform(noise.condition_width_low, noise.condition_width_high)
    logits = -((grades - centre) ** 2) / (2 * width**2)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    return {int(g): float(p) for g, p in zip(grades, probs, strict=True)}


def _sign_prob(present: bool, rng: np.random.Generator, noise: NoiseModel) -> float:
    if present:
        return float(rng.beta(1, 6) if rng.random() < noise.sign_miss else rng.beta(6, 2))
    return float(rng.beta(4, 3) if rng.random() < noise.sign_false_alarm else rng.beta(1, 12))
