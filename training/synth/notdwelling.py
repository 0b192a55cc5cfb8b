"""not_dwelling photos: package photographs, documents, screens and near-blank frames.

The photographs are the sample images shipped inside scikit-image, read from the installed
package (never downloaded); each is cropped, flipped and re-lit so it is not one template.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from training.synth.config import NotDwellingSettings
from training.synth.textures import noise

KINDS = ("package_photo", "document", "screen", "blank_frame")


@lru_cache(maxsize=64)
def package_image(name: str) -> np.ndarray:
    """One scikit-image sample as RGB uint8 (gray and RGBA converted)."""
    from skimage import data

    loader = getattr(data, name, None)
    if loader is None:
        raise ValueError(f"scikit-image has no sample image {name!r}")
    image = np.asarray(loader())
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3]
    if image.dtype != np.uint8:  # boolean or float samples: stretch to 0..255
        values = image.astype(np.float32)
        span = max(float(values.max() - values.min()), 1e-6)
        image = (255 * (values - values.min()) / span).astype(np.uint8)
    return np.ascontiguousarray(image)


def _package_photo(
    settings: NotDwellingSettings, rng: np.random.Generator, size: int
) -> np.ndarray:
    name = settings.skimage_images[int(rng.integers(len(settings.skimage_images)))]
    src = package_image(name)
    h, w = src.shape[:2]
    crop = int(min(h, w) * rng.uniform(0.55, 1.0))
    y, x = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
    out = cv2.resize(src[y : y + crop, x : x + crop], (size, size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def _document(rng: np.random.Generator, size: int) -> np.ndarray:
    """A page lying on a table: lines of words as dashes, and in half of them a round stamp."""
    table = rng.uniform(60, 180, 3)
    img = np.empty((size, size, 3), np.float32)
    img[:] = table
    paper = np.float32(rng.uniform(225, 252, 3))
    x0, y0 = rng.uniform(0.03, 0.2, 2) * size
    x1, y1 = size - rng.uniform(0.03, 0.2, 2) * size
    tilt = rng.uniform(-0.06, 0.06) * size
    page = np.array([[x0 + tilt, y0], [x1 + tilt, y0 - tilt * 0.2], [x1, y1], [x0, y1]])
    cv2.fillPoly(img, [page.astype(np.int32)], paper.tolist())
    ink = rng.uniform(10, 90, 3)
    y = y0 + 0.08 * size
    while y < y1 - 0.06 * size:
        left = x0 + 0.07 * (x1 - x0)
        width = (x1 - x0) * rng.uniform(0.3, 0.8)
        x = left
        while x < left + width:  # words as short dashes
            word = rng.uniform(0.02, 0.07) * size
            cv2.line(
                img, (int(x), int(y)), (int(x + word), int(y)), ink.tolist(), max(1, size // 200)
            )
            x += word + 0.015 * size
        y += rng.uniform(0.035, 0.06) * size
    if rng.random() < 0.5:  # a round stamp
        c = (int(rng.uniform(x0, x1)), int(rng.uniform((y0 + y1) / 2, y1)))
        colour = (60.0, 70.0, 170.0) if rng.random() < 0.7 else (160.0, 50.0, 60.0)
        cv2.circle(img, c, int(0.08 * size), colour, max(1, size // 128))
    return img


def _screen(rng: np.random.Generator, size: int) -> np.ndarray:
    """A photo of a monitor or phone: dark bezel, bright UI blocks, moire lines."""
    img = np.empty((size, size, 3), np.float32)
    img[:] = rng.uniform(20, 90, 3)
    inset = rng.uniform(0.06, 0.2) * size
    x0, y0, x1, y1 = (
        int(inset),
        int(inset * rng.uniform(0.5, 1.2)),
        int(size - inset),
        int(size - inset * rng.uniform(0.5, 1.2)),
    )
    cv2.rectangle(img, (x0 - 6, y0 - 6), (x1 + 6, y1 + 6), (15, 15, 18), -1)
    img[y0:y1, x0:x1] = rng.uniform(180, 250, 3)
    for _ in range(int(rng.integers(3, 9))):
        bx0, by0 = int(rng.uniform(x0, x1 - 10)), int(rng.uniform(y0, y1 - 10))
        bx1 = min(x1, bx0 + int(rng.uniform(0.1, 0.5) * size))
        by1 = min(y1, by0 + int(rng.uniform(0.04, 0.2) * size))
        img[by0:by1, bx0:bx1] = rng.uniform(30, 250, 3)
    yy = np.arange(size, dtype=np.float32)[:, None]
    xx = np.arange(size, dtype=np.float32)[None, :]
    moire = 8 * np.sin(yy * rng.uniform(0.8, 1.6) + xx * rng.uniform(0.05, 0.3))
    img[y0:y1, x0:x1] += moire[y0:y1, x0:x1, None]
    return img


def _blank_frame(rng: np.random.Generator, size: int) -> np.ndarray:
    """A finger over the lens, a pocket shot, a white-out: nearly one colour."""
    kind = int(rng.integers(3))
    base = {
        0: rng.uniform([120, 40, 30], [220, 110, 90]),  # finger: reddish
        1: rng.uniform(0, 25, 3),  # dark pocket
        2: rng.uniform(225, 255, 3),
    }[kind]  # white-out
    img = np.empty((size, size, 3), np.float32)
    img[:] = base
    img *= (1 + 0.15 * noise(rng, size, size, smooth=True))[..., None]
    return img


def render_not_dwelling(
    settings: NotDwellingSettings, rng: np.random.Generator, size: int
) -> tuple[np.ndarray, str]:
    """(float32 image, kind) for one not_dwelling photo."""
    kinds = sorted(settings.kind_weights)
    weights = np.array([settings.kind_weights[k] for k in kinds], np.float64)
    kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
    if kind == "package_photo":
        return _package_photo(settings, rng, size).astype(np.float32), kind
    if kind == "document":
        return _document(rng, size), kind
    if kind == "screen":
        return _screen(rng, size), kind
    return _blank_frame(rng, size), kind
