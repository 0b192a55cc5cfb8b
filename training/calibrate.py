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


def _labelled(logits: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = target != IGNORE
    return logits[keep], target[keep]


Probs = Callable[[np.ndarray, float, "np.ndarray | None"], np.ndarray]


def _head_probs(head: str, formulation: str) -> Probs:
    """Logits, temperature and offsets -> class probabilities, as vision.heads computes them."""
    if head == "room":
        return softmax
    return lambda z, t, b: condition_probs(z, formulation, t, b)


def _class_nll(probs: Probs, z: np.ndarray, y: np.ndarray) -> Callable[..., float]:
    """Mean negative log-likelihood of the labels `y` at temperature t (and offsets b)."""
    rows = np.arange(y.size)
    return lambda t, b=None: float(-np.log(probs(z, t, b)[rows, y] + _EPS).mean())


def fit_room(logits: np.ndarray, target: np.ndarray) -> float:
    z, y = _labelled(logits, target)
    return _fit(_class_nll(_head_probs("room", ""), z, y)) if y.size else 1.0


def fit_condition(logits: np.ndarray, target: np.ndarray, *, formulation: str) -> float:
    z, y = _labelled(logits, target)
    return _fit(_class_nll(_head_probs("condition", formulation), z, y)) if y.size else 1.0


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


def fit_calibration(
    logits: HeadLogits, *, formulation: str, bias_heads: Sequence[str], l2: float
) -> Calibration:
    """Temperatures for every head; temperature and offsets jointly for `bias_heads`."""
    temperatures = fit_temperatures(logits, formulation=formulation)
    fitted: dict[str, tuple[float, list[float]]] = {}
    for head in bias_heads:
        z, y = _labelled(getattr(logits, head), getattr(logits, f"{head}_target"))
        if y.size:
            nll = _class_nll(_head_probs(head, formulation), z, y)
            fitted[head] = fit_temperature_and_bias(nll, z.shape[1], l2=l2)
    calibration = Calibration(
        temperatures=temperatures.model_copy(update={h: t for h, (t, _) in fitted.items()}),
        biases=Biases(**{h: b for h, (_, b) in fitted.items()}),
    )
    logger.info("calibration: %s", calibration.model_dump())
    return calibration
