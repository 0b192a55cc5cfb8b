"""Logits to calibrated probabilities, per head: one place, used by evaluation and the engine.

Pure NumPy. room: softmax. condition: CORAL (K-1 cumulative logits, P(grade > k)) or softmax
over K grades. signs: independent sigmoids. Each head's logits are divided by its calibration
temperature first, then the head's calibration biases (if any) are added.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from vision.artifact import ModelArtifact


def scale(
    logits: np.ndarray, temperature: float = 1.0, bias: Sequence[float] | np.ndarray | None = None
) -> np.ndarray:
    """Calibrated logits: divided by the temperature, plus the per-output biases if given."""
    z = logits.astype(np.float64) / temperature
    if bias is not None and len(bias):
        z = z + np.asarray(bias, dtype=np.float64)
    return z


def softmax(
    logits: np.ndarray, temperature: float = 1.0, bias: Sequence[float] | np.ndarray | None = None
) -> np.ndarray:
    z = scale(logits, temperature, bias)
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.clip(logits.astype(np.float64) / temperature, -60.0, 60.0)
    return 1.0 / (1.0 + np.exp(-z))


def coral_to_probs(
    cumulative_logits: np.ndarray,
    temperature: float = 1.0,
    bias: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """(N, K-1) logits of P(grade > k) -> (N, K) probabilities of each grade.

    The cumulative probabilities are made non-increasing first (a running minimum), so the
    grade probabilities are never negative even when the network is not perfectly ordered.
    """
    above = sigmoid(scale(cumulative_logits, temperature, bias))
    above = np.minimum.accumulate(above, axis=-1)
    n = above.shape[0]
    ones, zeros = np.ones((n, 1)), np.zeros((n, 1))
    cumulative = np.concatenate([ones, above, zeros], axis=-1)
    probs = cumulative[:, :-1] - cumulative[:, 1:]
    return probs / probs.sum(axis=-1, keepdims=True)


def condition_probs(
    logits: np.ndarray,
    formulation: str,
    temperature: float = 1.0,
    bias: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    if formulation == "coral":
        return coral_to_probs(logits, temperature, bias)
    return softmax(logits, temperature, bias)


def head_probs(
    artifact: ModelArtifact,
    room_logits: np.ndarray,
    condition_logits: np.ndarray,
    signs_logits: np.ndarray,
    *,
    calibrated: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All three heads' probabilities for a batch, with the artifact's calibration."""
    if not calibrated:
        return (
            softmax(room_logits),
            condition_probs(condition_logits, artifact.condition_formulation),
            sigmoid(signs_logits),
        )
    t, b = artifact.temperatures, artifact.biases
    return (
        softmax(room_logits, t.room, b.room),
        condition_probs(condition_logits, artifact.condition_formulation, t.condition, b.condition),
        sigmoid(signs_logits, t.signs),
    )


def nonfinite_rows(outputs: Mapping[str, np.ndarray]) -> dict[str, int]:
    """Per named output (photos x ...), how many photos have a NaN or infinite value in it:
    those with none are left out (training.calibrate and vision.export refuse such outputs)."""
    counts = {name: int(nonfinite_mask(out).sum()) for name, out in outputs.items()}
    return {name: n for name, n in counts.items() if n}


def nonfinite_mask(output: np.ndarray) -> np.ndarray:
    """Per photo (first axis) of `output`, whether any of its values is NaN or infinite."""
    return ~np.isfinite(output).reshape(len(output), -1).all(axis=1)
