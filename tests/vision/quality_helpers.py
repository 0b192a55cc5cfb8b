"""Synthetic photos of plain walls (light falloff, tint, sensor noise, a thin crack) for the
quality tests, and the photo sizes they are taken at."""

from __future__ import annotations

import cv2
import numpy as np

# (width, height) from 0.3 to 4 MP, all at or above the resolution warning.
SIZES = {"0.3MP": (640, 480), "1MP": (1152, 864), "2MP": (1632, 1224), "4MP": (2304, 1728)}


def wall_photo(kind: str, size: tuple[int, int], *, base: float, noise_sd: float, seed: int = 0):
    """A plain wall as a phone takes it: one light falloff, a tint and sensor noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy, xx = yy / width, xx / width  # square units: a round lamp pool stays round
    cx, cy = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8) * height / width
    r2 = (xx - cx) ** 2 + (yy - cy) ** 2
    across = xx * np.cos(0.5) + yy * np.sin(0.5)
    light = {
        "flat": np.ones_like(xx),
        "linear": 1.0 - 0.6 * across / across.max(),  # a window to one side
        "radial": 1.0 - 0.6 * r2 / r2.max(),  # vignetting or a ceiling light
        "lamp": 0.3 + 0.7 / (1.0 + r2 / 0.25**2),  # a lamp's pool, radius a quarter frame
    }[kind]
    grey = base * light + rng.normal(0.0, noise_sd, light.shape)
    tint = np.array([1.0, 0.97, 0.9])  # a warm wall
    return np.clip(grey[..., None] * tint, 0, 255).astype(np.uint8)


def crack_on_a_wall(width_px: int, depth: float) -> np.ndarray:
    """A close-up of a plain wall in lamp light with a thin crack across it (0.3 MP)."""
    wall = wall_photo("radial", SIZES["0.3MP"], base=190, noise_sd=3).astype(np.float32)
    path = np.array([(0, 250), (120, 232), (260, 270), (400, 238), (520, 262), (640, 244)])
    mask = np.zeros(wall.shape[:2], np.uint8)
    cv2.polylines(mask, [path.astype(np.int32)], False, 255, thickness=width_px)
    return np.clip(wall - depth * (mask[..., None] / 255.0), 0, 255).astype(np.uint8)


def blank_wall(seed: int, *, base: float, noise: float, falloff: float) -> np.ndarray:
    """A plain wall as a phone takes it: a smooth light falloff and sensor noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:480, 0:640]
    d = ((yy - 240) ** 2 + (xx - 320) ** 2) / (240**2 + 320**2)
    grey = np.clip(base * (1 - falloff * d) + rng.normal(0, noise, d.shape), 0, 255)
    return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)
