"""Colours into sRGB, what the models were trained on: the ICC profile a photo embeds, judged.

A photo with an embedded RGB profile other than sRGB (Display P3, Adobe RGB, as phones and
cameras write) is converted; a profile that names another colour space (CMYK, Lab), or that
LittleCMS cannot use, leaves the colours as stored, never costing the photo. `vision.io`
converts through `to_srgb`; `vision.gpu` asks `needs_srgb_conversion` which photos to leave to it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from functools import cache

import numpy as np
from PIL import Image, ImageCms

# Logged under the decoder's name, as before this module was split from it: a profile's verdict
# is part of decoding the photo, and whoever filters the decoder's records keeps seeing it.
logger = logging.getLogger("vision.io")

# A transform is built once per distinct profile (phones embed a handful), and
# the verdict on a profile, a broken one's warning included, is given once while it is kept.
_TRANSFORMS_KEPT = 64
_transforms: dict[bytes, ImageCms.ImageCmsTransform | None] = {}  # sha256 of profile: transform
_transforms_lock = threading.Lock()
# A profile is taken for sRGB (whatever its name) when converting a grid of colours through it
# moves none by more than this many levels: the rounding of two sRGB profiles' own tables.
_SRGB_TOLERANCE = 2
_PROBE_LEVELS = np.linspace(0, 255, 8).round().astype(np.uint8)


def needs_srgb_conversion(image: Image.Image) -> bool:
    """Whether `vision.io` converts this photo's colours (an embedded RGB profile, not sRGB);
    for a decoder of its own (the GPU path) to hand such a photo to `decode_image`."""
    icc = image.info.get("icc_profile")
    return isinstance(icc, bytes) and bool(icc) and _srgb_transform(icc) is not None


def to_srgb(rgb: Image.Image, icc: object) -> Image.Image:
    """`rgb` (mode RGB) in sRGB: converted from its embedded profile `icc` where that is an RGB
    profile other than sRGB; as it is without one, or where the profile cannot be used."""
    if not icc or not isinstance(icc, bytes):
        return rgb
    transform = _srgb_transform(icc)
    if transform is None:
        return rgb
    try:
        return transform.apply(rgb)
    except MemoryError:
        raise
    except Exception:  # built and probed, so not expected: the colours must not cost the photo
        logger.warning("converting a photo to sRGB failed; colours left as stored", exc_info=True)
        return rgb


def _srgb_transform(icc: bytes) -> ImageCms.ImageCmsTransform | None:
    """The cached transform from the profile `icc` to sRGB; None where none is needed (sRGB)
    or none can be made (a broken profile, or one of other pixels than RGB)."""
    key = hashlib.sha256(icc).digest()
    with _transforms_lock:  # held while building: each profile is judged, and logged, once
        if key in _transforms:
            return _transforms[key]
        transform = _build_srgb_transform(icc, name=key.hex()[:12])
        if len(_transforms) >= _TRANSFORMS_KEPT:
            del _transforms[next(iter(_transforms))]  # the oldest
        _transforms[key] = transform
        return transform


def _build_srgb_transform(icc: bytes, *, name: str) -> ImageCms.ImageCmsTransform | None:
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = profile.profile.xcolor_space.strip()
        if space != "RGB":
            logger.info(
                "ICC profile %s is for %s pixels, not RGB; colours left as stored", name, space
            )
            return None
        # Pillow's default intent, perceptual; a matrix profile (Display P3, Adobe RGB) has no
        # perceptual table, and LittleCMS converts it colorimetrically.
        transform = ImageCms.buildTransform(profile, _srgb_profile(), "RGB", "RGB")
        probe = _probe()
        moved = np.abs(np.asarray(transform.apply(probe), np.int16) - np.asarray(probe, np.int16))
    except MemoryError:
        raise
    except Exception as exc:  # LittleCMS refuses a damaged profile in its own words
        logger.warning(
            "ICC profile %s cannot be used (%s: %s); colours left as stored",
            name, type(exc).__name__, " ".join(str(exc).split()),
        )  # fmt: skip
        return None
    if moved.max() <= _SRGB_TOLERANCE:
        return None  # sRGB by another name: nothing to convert
    logger.info("ICC profile %s (%s): photos converted to sRGB", name, _description(profile))
    return transform


@cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@cache
def _probe() -> Image.Image:
    """Every combination of 8 levels per channel, as a 512 x 1 RGB image."""
    grid = np.stack(np.meshgrid(*[_PROBE_LEVELS] * 3, indexing="ij"), axis=-1)
    return Image.fromarray(grid.reshape(1, -1, 3))


def _description(profile: ImageCms.ImageCmsProfile) -> str:
    try:
        return " ".join(str(profile.profile.profile_description).split())[:80] or "no name"
    except Exception:
        return "no name"
