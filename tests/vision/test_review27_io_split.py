"""vision.io (review 27): the aspect limit is lifted by a keyword of the call, not by state
around it, and the colour-profile code lives in its own module."""

from __future__ import annotations

import contextvars
import io

import numpy as np
import pytest
from PIL import Image

import serving.stored_decode
import vision.io
import vision.io_checks
import vision.io_icc
from shanyraq.errors import ImageShapeError, ImageTooLargeError
from vision.io import decode_image
from vision.io_checks import MAX_ASPECT, check_pixel_limit

LIMIT = 50_000_000


def _png(width: int, height: int) -> bytes:
    rng = np.random.default_rng(width * 7 + height)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(("width", "height"), [(2, 300), (300, 2)])
def test_a_strip_decodes_with_the_keyword_and_is_refused_without_it(width, height):
    strip = _png(width, height)
    with pytest.raises(ImageShapeError, match="without panorama mode"):
        decode_image(strip, max_pixels=LIMIT)
    decoded = decode_image(strip, max_pixels=LIMIT, max_aspect=None)
    assert decoded.size == (width, height)
    # The keyword lifted the limit for that call alone: the next call refuses the strip again.
    with pytest.raises(ImageShapeError, match=f"more than {MAX_ASPECT} times"):
        decode_image(strip, max_pixels=LIMIT)


def test_the_keyword_is_a_limit_not_only_a_switch():
    strip = _png(1, 30)  # 30 times as long as wide: over MAX_ASPECT, within 40
    assert decode_image(strip, max_pixels=LIMIT, max_aspect=40).size == (1, 30)
    with pytest.raises(ImageShapeError, match="more than 10 times"):
        check_pixel_limit(1, 30, LIMIT, max_aspect=10)
    check_pixel_limit(1, 10_000, LIMIT, max_aspect=None)


def test_the_pixel_limit_still_holds_without_the_aspect_limit():
    with pytest.raises(ImageTooLargeError):
        decode_image(_png(1, 300), max_pixels=299, max_aspect=None)


def test_no_context_variable_lifts_the_limit_any_more():
    assert not hasattr(vision.io_checks, "aspect_unlimited")
    for module in (vision.io, vision.io_checks, vision.io_icc, serving.stored_decode):
        held = [name for name, value in vars(module).items()
                if isinstance(value, contextvars.ContextVar)]  # fmt: skip
        assert held == [], f"{module.__name__} holds a context variable: {held}"


def test_the_colour_profile_code_lives_in_vision_io_icc():
    assert vision.io.needs_srgb_conversion is vision.io_icc.needs_srgb_conversion
    assert not hasattr(vision.io, "_srgb_transform")
    assert not hasattr(vision.io, "_transforms")
