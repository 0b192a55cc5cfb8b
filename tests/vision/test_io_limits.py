"""The pixel limit and the shape limit, through vision.io: bombs fail fast in little memory,
strips are refused before decoding, and the limit is ours, also above Pillow's own."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from PIL import Image

import vision.io
from shanyraq.errors import ImageTooLargeError
from tests.vision.io_helpers import LIMIT, png_bomb
from vision.io import decode_image


def test_png_pixel_bomb_fails_fast_in_little_memory():
    bomb = png_bomb()
    assert len(bomb) < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLargeError):
            decode_image(bomb, max_pixels=LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000  # the 400 MP image would need about 1.2 GB as RGB


def test_over_our_limit_names_size(make_image):
    with pytest.raises(ImageTooLargeError, match=r"64x48 .* over the limit"):
        decode_image(make_image("PNG", size=(64, 48)), max_pixels=1000)


@pytest.mark.parametrize(("width", "height"), [(1, 21), (2100, 100), (1, 60_000)])
def test_a_strip_far_longer_than_wide_is_refused_before_decoding(make_image, width, height):
    """A 1 x 60,000 strip is within the pixel limit, but `shorter_side_crop` would scale it to
    224 x 13,440,000 pixels before cropping."""
    from shanyraq.errors import ImageShapeError

    with pytest.raises(ImageShapeError, match=f"{width}x{height}, more than 20 times") as caught:
        decode_image(make_image("PNG", size=(width, height)), max_pixels=LIMIT)
    assert caught.value.code == "image_shape" and caught.value.http_status == 422


@pytest.mark.parametrize("size", [(1, 20), (2000, 100), (4000, 1000)])
def test_a_panorama_within_the_aspect_limit_still_decodes(make_image, size):
    assert (
        decode_image(make_image("PNG", size=size), max_pixels=LIMIT).pixels.shape[:2] == size[::-1]
    )


# --- the pixel limit is ours, also above Pillow's own --------------------------------------


def test_a_limit_above_pillows_decides_not_pillows_bomb_check(make_image, monkeypatch):
    # Pillow warns at MAX_IMAGE_PIXELS (89.5 MP) and refuses at twice that. Lowered here, so
    # that a photo between Pillow's limit and ours is small enough to decode in a test.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    decoded = decode_image(make_image("PNG", size=(64, 48)), max_pixels=5000)
    assert decoded.size == (64, 48)
    assert Image.MAX_IMAGE_PIXELS == 5000  # raised to ours (restored after the test)
    with pytest.raises(ImageTooLargeError, match=r"64x48 .* over the limit"):
        decode_image(make_image("PNG", size=(64, 48)), max_pixels=3000)
    assert Image.MAX_IMAGE_PIXELS == 5000  # never lowered


def test_a_raised_limit_admits_a_100_mp_header(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after
    # The header is the point, not 100 MP of pixels (1 GB as RGB): the loading is stubbed.
    monkeypatch.setattr(
        vision.io, "_load_rgb", lambda image, fmt, **_: np.zeros((1, 1, 3), np.uint8)
    )
    # 100 MP: over Pillow's 89.5 MP, under ours; every row there (their count is checked).
    header = png_bomb(10000, 10000, rows=10000)
    decoded = decode_image(header, max_pixels=150_000_000)
    assert decoded.original_size == (10000, 10000)
    # Over ours: refused at the header, naming our limit, whichever check sees it first.
    with pytest.raises(ImageTooLargeError, match="150 MP"):
        decode_image(png_bomb(20000, 10000), max_pixels=150_000_000)
    with pytest.raises(ImageTooLargeError, match="150 MP"):
        decode_image(png_bomb(20000, 20000), max_pixels=150_000_000)


def test_pillows_limit_is_not_lowered_by_a_smaller_one(make_image, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    before = Image.MAX_IMAGE_PIXELS
    decode_image(make_image("PNG"), max_pixels=LIMIT)
    assert before == Image.MAX_IMAGE_PIXELS
