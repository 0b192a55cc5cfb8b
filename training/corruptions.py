"""Image corruptions for robustness evaluation: pure functions of (photo, severity, seed).

Severity 1..3, from what a careful inspector's phone does to what a hurried one's does.
Applied to the decoded photo before preprocessing, as a real degraded upload would be.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import cv2
import numpy as np

SEVERITIES = (1, 2, 3)
Corruption = Callable[[np.ndarray, int, int], np.ndarray]
T = TypeVar("T")


def _at(levels: tuple[T, T, T], severity: int) -> T:
    """The level for `severity`; anything off the 1..3 scale is refused, not wrapped around."""
    if severity not in SEVERITIES:
        raise ValueError(
            f"corruption severity must be one of {', '.join(map(str, SEVERITIES))}, "
            f"got {severity!r}"
        )
    return levels[severity - 1]


def gaussian_blur(rgb: np.ndarray, severity: int, seed: int = 0) -> np.ndarray:
    sigma = _at((0.6, 1.2, 2.0), severity) * max(rgb.shape[:2]) / 128
    return cv2.GaussianBlur(rgb, (0, 0), sigmaX=sigma)


def gaussian_noise(rgb: np.ndarray, severity: int, seed: int = 0) -> np.ndarray:
    std = _at((8.0, 16.0, 28.0), severity)
    noise = np.random.default_rng(seed).normal(0.0, std, size=rgb.shape)
    return np.clip(rgb.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def jpeg(rgb: np.ndarray, severity: int, seed: int = 0) -> np.ndarray:
    quality = _at((40, 20, 8), severity)
    ok, data = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("OpenCV could not decode its own JPEG")
    return np.ascontiguousarray(decoded[:, :, ::-1])


def brightness(rgb: np.ndarray, severity: int, seed: int = 0) -> np.ndarray:
    """Under-exposure, the usual failure indoors."""
    gain = _at((0.75, 0.55, 0.35), severity)
    return np.clip(rgb.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def contrast(rgb: np.ndarray, severity: int, seed: int = 0) -> np.ndarray:
    factor = _at((0.7, 0.5, 0.3), severity)
    mean = rgb.astype(np.float32).mean(axis=(0, 1), keepdims=True)
    return np.clip((rgb - mean) * factor + mean, 0, 255).astype(np.uint8)


CORRUPTIONS: dict[str, Corruption] = {
    "blur": gaussian_blur,
    "noise": gaussian_noise,
    "jpeg": jpeg,
    "brightness": brightness,
    "contrast": contrast,
}
