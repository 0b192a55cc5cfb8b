"""The phone camera: exposure, colour temperature, light fall-off, shadow, noise, blur.

Artefacts stay mild for usable photos; `degrade` makes the unusable kinds a quality gate must
catch (blurred, too dark, overexposed).
"""

from __future__ import annotations

import cv2
import numpy as np

from training.synth.config import CameraSettings
from training.synth.textures import noise

UNUSABLE_REASONS = ("blurred", "too_dark", "overexposed")


def _light_field(rng: np.random.Generator, size: int, vignette: float) -> np.ndarray:
    """Multiplicative light: a directional gradient, a soft shadow and vignetting."""
    low = 64  # smooth: computed small, scaled up by the caller
    yy, xx = np.mgrid[0:low, 0:low].astype(np.float32) / low
    angle = rng.uniform(0, 2 * np.pi)
    field = 1.0 + 0.18 * rng.uniform(0, 1) * (
        (xx - 0.5) * np.cos(angle) + (yy - 0.5) * np.sin(angle)
    )
    r2 = (xx - 0.5) ** 2 + (yy - 0.5) ** 2
    field *= 1.0 - vignette * r2 * 2.0
    if rng.random() < 0.4:  # a soft shadow cast by something out of frame
        edge = rng.uniform(0.2, 0.8)
        side = xx if rng.random() < 0.5 else yy
        field *= 1.0 - 0.25 * (1 / (1 + np.exp(-(side - edge) * 25)))
    return cv2.resize(field, (size, size), interpolation=cv2.INTER_LINEAR)


def expose(
    image: np.ndarray, camera: CameraSettings, rng: np.random.Generator, *, warmth: float
) -> np.ndarray:
    """Light and sensor: returns a float32 image (not clipped yet)."""
    size = image.shape[0]
    img: np.ndarray = image.astype(np.float32)
    gain = rng.uniform(*camera.exposure)
    temp = np.clip(rng.uniform(*camera.colour_temperature) + 0.05 * warmth, 0.75, 1.25)
    channel = np.array([temp, 1.0, 2.0 - temp], np.float32) * gain
    light = _light_field(rng, size, rng.uniform(*camera.vignette))
    img *= light[..., None] * channel
    if rng.random() < camera.blur_rate:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(*camera.blur_sigma)))
    sd = float(rng.uniform(*camera.noise_sd))
    grain = noise(rng, size, size, smooth=False)
    img += (sd * grain)[..., None]
    return img


def degrade(image: np.ndarray, reason: str, rng: np.random.Generator) -> np.ndarray:
    """Make a photo unusable in the named way (float32 in, float32 out)."""
    size = image.shape[0]
    if reason == "blurred":
        sigma = size * float(rng.uniform(0.02, 0.04))
        if rng.random() < 0.5:  # shake: motion blur along a line
            k = max(3, int(sigma * 3) | 1)
            kernel = np.zeros((k, k), np.float32)
            kernel[k // 2, :] = 1.0 / k
            rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
            turned = cv2.warpAffine(kernel, rot, (k, k))
            turned = (turned / max(float(turned.sum()), 1e-6)).astype(np.float32)
            return cv2.filter2D(image, -1, turned)
        return cv2.GaussianBlur(image, (0, 0), sigma)
    if reason == "too_dark":
        return image * float(rng.uniform(0.05, 0.14)) + rng.normal(0, 2.0, image.shape).astype(
            np.float32
        )
    if reason == "overexposed":
        return image * float(rng.uniform(2.6, 4.0)) + 60.0
    raise ValueError(f"unknown unusable reason {reason!r}; use one of {UNUSABLE_REASONS}")


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)
