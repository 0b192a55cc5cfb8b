"""Reasons: per-feature contributions to an outcome, turned into plain words.

LightGBM heads give exact per-feature contributions (`pred_contrib`, TreeSHAP) on the raw
score. Heads without them (random forest) get baseline-substitution contributions: the change
in the raw score when one feature is set to its training median (a one-at-a-time, SHAP-like
approximation). Contributions are in calibrated log-odds units for ASP and in calibrated
logit units of the predicted level (relative to the mean over levels) for the level.

One fact is one reason: a figure derived from a single card criterion (per-capita income in
subsistence minimums) adds its contribution to that criterion's reason (features.REASON_SOURCE).
A figure derived from several inputs is a reason of its own, in words that name them
("Household income in subsistence minimums, from per-capita income and family size"). Crediting
it to one input would name the wrong cause when another (family size) drives it; splitting it
over its inputs would need a second, approximate attribution of a figure the model used whole,
and a commission member could not check the split. Standing alone, it is exactly what the model
used: resetting it moves the outcome by the weight its reason shows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from welfare.features import REASON_SOURCE, FeatureSpace
from welfare.fusion import FusionModel
from welfare.statements import Code, Param, Statement, figure, number

Target = Literal["asp", "level"]


@dataclass(frozen=True)
class Reason:
    feature: str
    kind: Literal["tabular", "visual"]
    target: Target
    value: float
    contribution: float
    text: str
    # The same sentence for any language (welfare.statements).
    code: Code
    params: dict[str, Param]
    # The model features whose contributions this reason adds up (`feature` and the figures
    # derived from it alone, features.REASON_SOURCE).
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


def contributions(
    model: FusionModel, row: pd.DataFrame, *, target: Target, level_index: int = 0
) -> dict[str, float]:
    """Each feature's contribution to one family's outcome (row: a one-row frame)."""
    x = model.matrix(row)
    head = model.asp_head if target == "asp" else model.level_head
    native = head.contributions(x)
    if native is not None:
        values = _native(model, native, target=target, level_index=level_index)
    else:
        values = _substitution(model, x, target=target, level_index=level_index)
    return dict(zip(model.features, (float(v) for v in values), strict=True))


def _native(
    model: FusionModel, native: np.ndarray, *, target: Target, level_index: int
) -> np.ndarray:
    if target == "asp":
        return native[0, :-1] * model.meta.platt[0]
    per_class = native[0, :, :-1]  # (K, F)
    relative = per_class[level_index] - per_class.mean(axis=0)
    return relative / model.meta.temperature


def _substitution(
    model: FusionModel, x: np.ndarray, *, target: Target, level_index: int
) -> np.ndarray:
    background = np.array([model.meta.background[f] for f in model.features])
    batch = np.repeat(x, len(model.features), axis=0)
    for i, value in enumerate(background):
        batch[i, i] = value
    full = _score(model, x, target=target, level_index=level_index)
    return full - _score(model, batch, target=target, level_index=level_index)


def _score(model: FusionModel, x: np.ndarray, *, target: Target, level_index: int) -> np.ndarray:
    if target == "asp":
        return model.asp_raw(x)
    raw = model.level_raw(x)
    return raw[:, level_index] - raw.mean(axis=1)


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
) -> list[Reason]:
    """The k criteria or photo figures that moved this outcome most, largest first, in words.

    A figure derived from one criterion alone counts towards that criterion, so one fact is one
    reason (features.REASON_SOURCE); a figure with several inputs is its own reason.
    """
    contrib = contributions(model, row, target=target, level_index=level_index)
    groups: dict[str, list[str]] = {}
    for feature in contrib:
        source = REASON_SOURCE.get(feature, feature)
        groups.setdefault(source if source in contrib else feature, []).append(feature)
    weights = {name: sum(contrib[f] for f in members) for name, members in groups.items()}
    ranked = sorted(weights, key=lambda name: abs(weights[name]), reverse=True)[:k]
    out = []
    for name in ranked:
        value, weight = float(row[name].iloc[0]), weights[name]
        shown: Param = number(value)
        if shown is not None and name in space.binary:
            shown = bool(value)  # a yes/no fact reads as yes or no, not as 1 or 0
        params: dict[str, Param] = {"feature": name, "value": shown}
        if target == "level":
            params["level"] = level
        out.append(
            Reason(
                feature=name,
                kind="visual" if space.is_visual(name) else "tabular",
                target=target,
                value=value,
                contribution=weight,
                text=_words(space.words.get(name, name), value, weight, target, level_name),
                code=_CODES[target][weight > 0],
                params=params,
                features=tuple(groups[name]),
            )
        )
    return out


# A reason's code by its target and the direction of its push (True: towards, supports).
_CODES = {
    "asp": {True: Code.REASON_ASP_TOWARDS, False: Code.REASON_ASP_AWAY},
    "level": {True: Code.REASON_LEVEL_SUPPORTS, False: Code.REASON_LEVEL_AGAINST},
}


def _words(label: str, value: float, weight: float, target: Target, level_name: str) -> str:
    shown = "missing" if math.isnan(value) else figure(value)
    if target == "asp":
        towards = "towards" if weight > 0 else "away from"
        return f"{label}: {shown} — points {towards} ASP eligibility"
    supports = "supports" if weight > 0 else "argues against"
    return f"{label}: {shown} — {supports} level {level_name}"
