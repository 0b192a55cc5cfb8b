"""Calibration per head, fitted on validation logits by minimising the NLL.

One scalar per head divides that head's logits before its activation (temperature scaling).
For the heads the recipe names (`calibration.bias_heads`), an offset per output is fitted
jointly with the temperature: a single temperature cannot move CORAL's thresholds, and on the
demo model the condition head's ECE stayed at 0.056 with a temperature alone and fell to 0.021
with per-threshold offsets (test split; configs/train/demo.yaml). vision.heads applies both at
inference; they are stored in model.json.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.optimize import minimize, minimize_scalar

from vision.artifact import Biases, Temperatures
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


class Calibration(BaseModel):
    """What calibration fitted: a temperature per head and, where asked, offsets per output."""

    model_config = ConfigDict(extra="forbid")

    temperatures: Temperatures = Temperatures()
    biases: Biases = Biases()


def fit_temperature_and_bias(
    nll: Callable[[float, np.ndarray], float], n_outputs: int, *, l2: float
) -> tuple[float, list[float]]:
    """Temperature t and offsets b minimising nll(t, b) + l2 * |b|^2 (L-BFGS-B, t bounded)."""

    def objective(params: np.ndarray) -> float:
        return nll(float(np.exp(params[0])), params[1:]) + l2 * float(params[1:] @ params[1:])

    bounds = [_LOG_T_BOUNDS] + [(None, None)] * n_outputs
    result = minimize(objective, np.zeros(n_outputs + 1), method="L-BFGS-B", bounds=bounds)
    return float(np.exp(result.x[0])), [float(v) for v in result.x[1:]]


def _labelled(logits: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = target != IGNORE
    return logits[keep], target[keep]


def fit_calibration(
    logits: HeadLogits, *, formulation: str, bias_heads: Sequence[str], l2: float
) -> Calibration:
    """Temperatures for every head; temperature and offsets jointly for `bias_heads`."""
    temperatures = fit_temperatures(logits, formulation=formulation)
    fitted: dict[str, tuple[float, list[float]]] = {}
    room_z, room_y = _labelled(logits.room, logits.room_target)
    if "room" in bias_heads and room_y.size:
        rows = np.arange(room_y.size)
        fitted["room"] = fit_temperature_and_bias(
            lambda t, b: -np.log(softmax(room_z, t, b)[rows, room_y] + _EPS).mean(),
            room_z.shape[1],
            l2=l2,
        )
    cond_z, cond_y = _labelled(logits.condition, logits.condition_target)
    if "condition" in bias_heads and cond_y.size:
        rows = np.arange(cond_y.size)
        fitted["condition"] = fit_temperature_and_bias(
            lambda t, b: (
                -np.log(condition_probs(cond_z, formulation, t, b)[rows, cond_y] + _EPS).mean()
            ),
            cond_z.shape[1],
            l2=l2,
        )
    calibration = Calibration(
        temperatures=temperatures.model_copy(update={h: t for h, (t, _) in fitted.items()}),
        biases=Biases(**{h: b for h, (_, b) in fitted.items()}),
    )
    logger.info("calibration: %s", calibration.model_dump())
    return calibration
