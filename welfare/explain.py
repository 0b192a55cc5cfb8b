"""Reasons: what each fact did to one family's outcome, measured, and put into plain words.

A reason's weight is a reset, not a model of the model. The outcome is the model's calibrated
probability of what it told the commission: P(ASP eligible) for ASP reasons, P(the level given)
for level reasons. A fact's contribution is that probability as recorded minus the same
probability with that fact alone set to the typical value of the training families (their
median, `FusionMeta.background`), everything else as recorded:

    contribution = P(outcome | record) - P(outcome | record, this fact reset to the median)

So it is in probability points, between -1 and 1. Positive: the fact as recorded makes the
outcome more likely (points towards ASP eligibility, supports the level); negative: less likely
(points away, argues against). Anyone can check a reason: resetting its fact moves the outcome
by exactly the weight shown, in the direction shown. A fact whose reset changes nothing, or
less than configs/welfare.yaml `recommendation.min_reason_points` (half a probability point), is
no reason and is never shown (its direction would be a guess, and near 0 % or 100 % every reset
moves the outcome by a hair). The same measure serves every head
(LightGBM, cumulative LightGBM, random forest); it costs one batch of predictions per outcome,
one row per fact, and is deterministic.

What a weight is not: a share of an additive split. Weights need not add up to the distance
from a typical family, because the model combines facts. Why not the trees' own split
(TreeSHAP): its sign need not agree with a reset (it averages over other families, not this
one), and the cumulative level head answers "level > k" with one booster per k, so P(level)
is a difference of booster outputs: their splits can only be carried through a linearised link
that divides by each level's probability; taken against the mean over levels, a level the model
all but ruled out blew the weights up (10^4 logits) and turned their signs. When several facts
each hold the outcome on their own (a family far from the line on several counts), no single
reset moves it: fewer than k reasons, or none, are shown, rather than guessed ones.

One fact is one reason: a figure derived from a single card criterion (per-capita income in
subsistence minimums) is reset together with that criterion, in its reason
(features.REASON_SOURCE). A figure derived from several inputs is a reason of its own, in words
that name them ("Household income in subsistence minimums, from per-capita income and family
size"), and its weight is what resetting that figure alone does: little, when the model reads
the same information from another feature. Crediting it to one input would name the wrong
cause when another (family size) drives it.

A family with no usable photo has one photo fact, "usable photos: 0": every figure computed from
the usable photos (mean condition, signs, coverage) is then missing, and they are reset together
with that count, to a family photographed as the typical one. Reset alone, a mean condition with
no photo to have it would weigh a family that cannot exist, and its reason would name a photo
figure the family does not have.

A tally (assets, signs of hidden income) counts the inputs that are recorded; the model was
trained on it so. When some are missing the figure is a lower bound, and its reason says so and
names them ("at least 0 (not recorded: vehicles ...)", features.TALLY_INPUTS): missing is
never shown as 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import expit

from welfare.features import (
    PHOTO_COUNTS,
    REASON_SOURCE,
    TALLY_INPUTS,
    VISUAL_PREFIX,
    FeatureSpace,
)
from welfare.fusion import FusionModel, softmax
from welfare.statements import Code, Param, Statement, figure, number

Target = Literal["asp", "level"]


@dataclass(frozen=True)
class Reason:
    feature: str
    kind: Literal["tabular", "visual"]
    target: Target
    value: float
    # Probability points (-1..1): the outcome's probability as recorded minus with `features`
    # reset to the training median (module docstring).
    contribution: float
    text: str
    # The same sentence for any language (welfare.statements).
    code: Code
    params: dict[str, Param]
    # The model features this reason resets together (`feature` and the figures derived from
    # it alone, features.REASON_SOURCE).
    features: tuple[str, ...] = ()

    @property
    def statement(self) -> Statement:
        return Statement(self.code, self.text, self.params)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["value"] = None if math.isnan(self.value) else self.value
        out["features"] = list(self.features)
        out["code"] = self.code.value
        return out


def outcome_probability(
    model: FusionModel, x: np.ndarray, *, target: Target, level_index: int = 0
) -> np.ndarray:
    """The calibrated probability an outcome rests on, per row of `x` (as `model.predict`)."""
    if target == "asp":
        return np.asarray(expit(model.asp_raw(x)))
    return softmax(model.level_raw(x))[:, level_index]


def contributions(
    model: FusionModel,
    row: pd.DataFrame,
    *,
    target: Target,
    level_index: int = 0,
    groups: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, float]:
    """What resetting each feature (or each group's features together) to its training median
    does to one family's outcome probability (row: a one-row frame); see the module docstring.

    `groups` names sets of model features reset together; by default each feature alone.
    """
    x = model.matrix(row)
    if len(x) != 1:
        raise ValueError(f"contributions explain one family at a time, not {len(x)}")
    sets = groups if groups is not None else {f: (f,) for f in model.features}
    column = {f: i for i, f in enumerate(model.features)}
    batch = np.repeat(x, len(sets) + 1, axis=0)  # row 0 as recorded, then one reset per set
    for i, members in enumerate(sets.values(), start=1):
        for feature in members:
            batch[i, column[feature]] = model.meta.background[feature]
    p = outcome_probability(model, batch, target=target, level_index=level_index)
    return {name: float(p[0] - p[i]) for i, name in enumerate(sets, start=1)}


# The fact a family with no usable photo has, standing for every figure computed from the
# usable photos: each of those is missing, and resetting one alone to the typical family's
# (a mean condition, with no photo to have it) would weigh a family that cannot exist.
_NO_PHOTO = "vis_usable_photos"


def reason_groups(
    features: Sequence[str], *, row: pd.DataFrame | None = None
) -> dict[str, tuple[str, ...]]:
    """Model features by the reason they belong to: a figure derived from one criterion alone
    joins that criterion's reason (when the model has it); every other feature is its own.

    With `row` (the family's features) showing no usable photo, the figures computed from the
    usable photos are one fact, "usable photos: 0", reset together (`_NO_PHOTO`).
    """
    photos = _photo_evidence(features, row)
    groups: dict[str, list[str]] = {}
    for feature in features:
        source = REASON_SOURCE.get(feature, feature)
        if feature in photos:
            source = _NO_PHOTO
        groups.setdefault(source if source in features else feature, []).append(feature)
    return {name: tuple(members) for name, members in groups.items()}


def _photo_evidence(features: Sequence[str], row: pd.DataFrame | None) -> set[str]:
    """The figures computed from the usable photos, when `row` shows none (else empty); with
    no photo summary at all (the count itself missing), every photo figure."""
    if row is None or _NO_PHOTO not in features:
        return set()
    usable = float(row[_NO_PHOTO].iloc[0])
    if usable != 0 and not math.isnan(usable):
        return set()
    counts = PHOTO_COUNTS if usable == 0 else ()
    return {f for f in features if f.startswith(VISUAL_PREFIX) and f not in counts}


def top_reasons(
    model: FusionModel,
    row: pd.DataFrame,
    *,
    space: FeatureSpace,
    target: Target,
    k: int,
    level_index: int = 0,
    level: int | None = None,
    level_name: str = "",
    min_weight: float = 0.0,
) -> list[Reason]:
    """The (at most) k facts whose reset moves this outcome most, largest first, in words.

    A figure derived from one criterion alone is reset with that criterion, so one fact is one
    reason (features.REASON_SOURCE); a figure with several inputs is its own reason; with no
    usable photo, the photo figures are one reason, "usable photos: 0" (`reason_groups`).
    Facts whose reset moves the outcome by `min_weight` (probability) or less are no reasons.
    """
    groups = reason_groups(model.features, row=row)
    weights = contributions(model, row, target=target, level_index=level_index, groups=groups)
    moving = [name for name in weights if abs(weights[name]) > min_weight]
    ranked = sorted(moving, key=lambda name: abs(weights[name]), reverse=True)[:k]
    out = []
    for name in ranked:
        value, weight = float(row[name].iloc[0]), weights[name]
        shown: float | bool | None = number(value)
        if shown is not None and name in space.binary:
            shown = bool(value)  # a yes/no fact reads as yes or no, not as 1 or 0
        params: dict[str, Param] = {"feature": name, "value": shown}
        unrecorded = _unrecorded(name, row) if shown is not None else []
        if unrecorded:
            params["criteria"] = unrecorded
        if target == "level":
            params["level"] = level
        label = space.words.get(name, name)
        out.append(
            Reason(
                feature=name,
                kind="visual" if space.is_visual(name) else "tabular",
                target=target,
                value=value,
                contribution=weight,
                text=_words(
                    label,
                    shown,
                    weight,
                    target,
                    level_name,
                    [space.words.get(c, c) for c in unrecorded],
                ),
                code=_CODES[target, weight > 0, bool(unrecorded)],
                params=params,
                features=groups[name],
            )
        )
    return out


def _unrecorded(name: str, row: pd.DataFrame) -> list[str]:
    """The inputs of a tally that the record lacks (the tally counts only the others)."""
    return [c for c in TALLY_INPUTS.get(name, ()) if c in row and math.isnan(row[c].iloc[0])]


# A reason's code by its target, the direction of its push (True: towards, supports) and
# whether its figure is a tally with inputs missing (a lower bound).
_CODES = {
    ("asp", True, False): Code.REASON_ASP_TOWARDS,
    ("asp", False, False): Code.REASON_ASP_AWAY,
    ("level", True, False): Code.REASON_LEVEL_SUPPORTS,
    ("level", False, False): Code.REASON_LEVEL_AGAINST,
    ("asp", True, True): Code.REASON_ASP_TOWARDS_PARTIAL,
    ("asp", False, True): Code.REASON_ASP_AWAY_PARTIAL,
    ("level", True, True): Code.REASON_LEVEL_SUPPORTS_PARTIAL,
    ("level", False, True): Code.REASON_LEVEL_AGAINST_PARTIAL,
}


def _words(
    label: str,
    value: float | bool | None,
    weight: float,
    target: Target,
    level_name: str,
    unrecorded: Sequence[str] = (),
) -> str:
    """`value` as the reason's params give it: None (missing), a yes/no, or a figure."""
    if value is None:
        shown = "missing"
    elif isinstance(value, bool):
        shown = "yes" if value else "no"  # as the pages say it (serving.web.i18n)
    else:
        shown = figure(value)
    if unrecorded:
        shown = f"at least {shown} (not recorded: {'; '.join(unrecorded)})"
    if target == "asp":
        towards = "towards" if weight > 0 else "away from"
        return f"{label}: {shown} — points {towards} ASP eligibility"
    supports = "supports" if weight > 0 else "argues against"
    return f"{label}: {shown} — {supports} level {level_name}"
