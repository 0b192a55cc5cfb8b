"""What one synthetic photo shows, sampled before any pixel is drawn: room, signs, wear, grade.

The causal order is the dataset card's: the home's welfare drives which signs appear and how
worn it is; signs and wear (both drawn) decide the condition grade by a written rule plus a
little noise, so the grade is never a lookup of the signs alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from shanyraq.taxonomy import Taxonomy
from training.synth.config import SynthConfig


class PhotoLabels(Protocol):
    """Anything render_photo can draw: a PhotoSpec, or a family's PlannedPhoto."""

    @property
    def room(self) -> str: ...
    @property
    def condition(self) -> int | None: ...
    @property
    def signs(self) -> frozenset[str]: ...
    @property
    def style(self) -> int: ...


@dataclass(frozen=True)
class PhotoSpec:
    """Labels of one photo plus the hidden wear level (0 new .. 1 worn out) to draw."""

    room: str
    condition: int | None
    signs: frozenset[str]
    style: int
    wear: float = 0.3


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def sign_probability(
    config: SynthConfig, sign: str, room: str, welfare: float, *, extra_logit: float = 0.0
) -> float:
    """Chance that `sign` is drawn in `room` of a home with latent welfare in [0, 1]."""
    rate = config.signs[sign]
    if room not in rate.rooms:
        return 0.0
    return _sigmoid(rate.intercept + rate.welfare_slope * (welfare - 0.5) + extra_logit)


def sample_wear(config: SynthConfig, welfare: float, rng: np.random.Generator) -> float:
    rule = config.condition
    mean = rule.wear_mean_poor + (rule.wear_mean_rich - rule.wear_mean_poor) * welfare
    k = rule.wear_concentration
    return float(rng.beta(mean * k, (1.0 - mean) * k))


def condition_from(
    config: SynthConfig, signs: frozenset[str], wear: float, noise: float, taxonomy: Taxonomy
) -> int:
    """The card's rule: base - wear_weight * wear + sum(sign weights) + noise, rounded, clipped."""
    rule = config.condition
    raw = rule.base - rule.wear_weight * wear + noise
    # fsum: the exact sum, whatever order the set yields its signs in (a plain sum's last bit
    # follows the set's hash order, which differs between processes, and flipped grades at .5).
    raw += math.fsum(rule.sign_weights[s] for s in signs)
    values = taxonomy.condition_values
    return int(min(max(round(raw), values[0]), values[-1]))


def sample_spec(
    config: SynthConfig,
    taxonomy: Taxonomy,
    rng: np.random.Generator,
    *,
    room: str,
    style: int,
    welfare: float,
    extra_logits: Mapping[str, float] | None = None,
) -> PhotoSpec:
    """Sample signs and wear for `room` in a home of `welfare`, then grade it by the rule.

    `extra_logits` shifts a sign's log-odds (a family case that makes a sign more likely).
    """
    extra = extra_logits or {}
    if room == taxonomy.not_dwelling:
        return PhotoSpec(room=room, condition=None, signs=frozenset(), style=style, wear=0.0)
    draws = rng.random(len(taxonomy.sign_names))
    signs = frozenset(
        s
        for s, u in zip(taxonomy.sign_names, draws, strict=True)
        if u < sign_probability(config, s, room, welfare, extra_logit=extra.get(s, 0.0))
    )
    wear = sample_wear(config, welfare, rng)
    noise = float(rng.normal(0.0, config.condition.noise_sd))
    condition = condition_from(config, signs, wear, noise, taxonomy)
    return PhotoSpec(room=room, condition=condition, signs=signs, style=style, wear=wear)
