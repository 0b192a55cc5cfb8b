"""Temperature scaling per head, fitted on validation logits by minimising the NLL.

One scalar per head divides that head's logits before its activation (vision.heads does the
dividing at inference); the temperatures are stored in model.json.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from vision.artifact import Temperatures
from vision.heads import condition_probs, sigmoid, softmax

logger = logging.getLogger(__name__)

IGNORE = -1
_EPS = 1e-12
_LOG_T_BOUNDS = (np.log(0.05), np.log(20.0))


@dataclass(frozen=True)
class HeadLogits:
    """Validation logits and targets (training encoding, -1 = not labelled)."""

    room: np.ndarray
    condition: np.ndarray
    signs: np.ndarray
    room_target: np.ndarray
    condition_target: np.ndarray
    signs_target: np.ndarray
    signs_known: np.ndarray


def _fit(nll: Callable[[float], float]) -> float:
    result = minimize_scalar(
        lambda log_t: nll(float(np.exp(log_t))), bounds=_LOG_T_BOUNDS, method="bounded"
    )
    return float(np.exp(result.x))


def fit_room(logits: np.ndarray, target: np.ndarray) -> float:
    keep = target != IGNORE
    z, y = logits[keep], target[keep]
    if not y.size:
        return 1.0
    return _fit(lambda t: -np.log(softmax(z, t)[np.arange(y.size), y] + _EPS).mean())


def fit_condition(logits: np.ndarray, target: np.ndarray, *, formulation: str) -> float:
    keep = target != IGNORE
    z, y = logits[keep], target[keep]
    if not y.size:
        return 1.0
    return _fit(
        lambda t: -np.log(condition_probs(z, formulation, t)[np.arange(y.size), y] + _EPS).mean()
    )


def fit_signs(logits: np.ndarray, target: np.ndarray, known: np.ndarray) -> float:
    z, y = logits[known], target[known]
    if not y.size:
        return 1.0

    def nll(t: float) -> float:
        p = sigmoid(z, t)
        return float(-(y * np.log(p + _EPS) + (1 - y) * np.log(1 - p + _EPS)).mean())

    return _fit(nll)


def fit_temperatures(logits: HeadLogits, *, formulation: str) -> Temperatures:
    temperatures = Temperatures(
        room=fit_room(logits.room, logits.room_target),
        condition=fit_condition(logits.condition, logits.condition_target, formulation=formulation),
        signs=fit_signs(logits.signs, logits.signs_target, logits.signs_known),
    )
    logger.info("calibration temperatures: %s", temperatures.model_dump())
    return temperatures
