"""Pixels to the model's input tensor: the one preprocessing path for training and serving.

Pure functions: RGB uint8 (H, W, 3) in, float32 (3, S, S) out, following the model's own
`Preprocessing` (size, mean, std, resize policy) from model.json.
"""

from __future__ import annotations

import cv2
import numpy as np

from shanyraq.errors import ModelMismatchError
from vision.artifact import Preprocessing

_INTERPOLATION = {
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
}


def _scale(rgb: np.ndarray, new_w: int, new_h: int, interpolation: str) -> np.ndarray:
    """Resize to (new_w, new_h), judged per axis: area-averaged along an axis that shrinks
    (no aliasing, however thin the photo), the spec's filter along one that grows."""
    height, width = rgb.shape[:2]
    grow = _INTERPOLATION[interpolation]
    if new_w <= width and new_h <= height:
        return cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
    if new_w >= width and new_h >= height:
        return cv2.resize(rgb, (new_w, new_h), interpolation=grow)
    # One axis shrinks and the other grows (a panorama squashed to a square): cv2's area filter
    # averages only when both shrink, so the shrinking axis goes first, on its own.
    if new_w < width:
        narrowed = cv2.resize(rgb, (new_w, height), interpolation=cv2.INTER_AREA)
    else:
        narrowed = cv2.resize(rgb, (width, new_h), interpolation=cv2.INTER_AREA)
    return cv2.resize(narrowed, (new_w, new_h), interpolation=grow)


def resize(rgb: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """Resize to spec.size x spec.size by the spec's policy; uint8 in, uint8 out."""
    size = spec.size
    height, width = rgb.shape[:2]
    if spec.resize == "squash":
        return _scale(rgb, size, size, spec.interpolation)
    if spec.resize == "shorter_side_crop":
        scale = size / min(height, width)
        new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
        scaled = _scale(rgb, new_w, new_h, spec.interpolation)
        top, left = (new_h - size) // 2, (new_w - size) // 2
        return np.ascontiguousarray(scaled[top : top + size, left : left + size])
    top, left, new_h, new_w = letterbox_box(height, width, size)  # padded with grey
    scaled = _scale(rgb, new_w, new_h, spec.interpolation)
    canvas = np.full((size, size, 3), 114, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = scaled
    return canvas


def letterbox_box(height: int, width: int, size: int) -> tuple[int, int, int, int]:
    """Where a letterboxed photo lies in the `size` square: (top, left, height, width), the
    whole photo scaled to fit and centred. One source for every path that places or reads it."""
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    return (size - new_h) // 2, (size - new_w) // 2, new_h, new_w


def scaling(spec: Preprocessing) -> tuple[np.ndarray, np.ndarray]:
    """(mean, 1 / std) per channel on the 0..255 scale: input = (pixel - mean) * inv_std.

    The one place every path (training, CPU and GPU serving) takes these constants from, so a
    spec whose std is zero, negative or not a number is refused here rather than turned into
    an input of inf or NaN (which a model scores without complaint).
    """
    with np.errstate(divide="ignore", over="ignore"):
        mean = np.asarray(spec.mean, dtype=np.float32) * 255.0
        inv_std = 1.0 / (np.asarray(spec.std, dtype=np.float32) * 255.0)
    if not (np.isfinite(mean).all() and np.isfinite(inv_std).all() and (inv_std > 0).all()):
        raise ModelMismatchError(
            f"the model's preprocessing has mean {list(spec.mean)} and std {list(spec.std)}; "
            "each must be a finite number and each std above zero: export the model again "
            "(shanyraq export RUN)"
        )
    return mean, inv_std


def normalize(rgb: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """uint8 HWC (already at size) -> float32 CHW with the spec's mean and std."""
    mean, inv_std = scaling(spec)
    chw = (rgb.astype(np.float32) - mean) * inv_std
    return np.ascontiguousarray(chw.transpose(2, 0, 1))


def to_input(rgb: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """One photo to one input tensor (3, size, size)."""
    return normalize(resize(rgb, spec), spec)


def to_batch(images: list[np.ndarray], spec: Preprocessing) -> np.ndarray:
    """Several photos to one batch (N, 3, size, size), float32."""
    if not images:
        return np.zeros((0, 3, spec.size, spec.size), dtype=np.float32)
    return np.stack([to_input(image, spec) for image in images])
