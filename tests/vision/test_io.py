"""The bad-file corpus, made here, through vision.io: each file gets its expected outcome.
(Pixel and shape limits are in test_io_limits.py, EXIF metadata in test_io_exif.py, HEIF
containers in test_io_heif.py.)"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from shanyraq.errors import CorruptImageError, EmptyImageError, UnsupportedImageFormatError
from tests.vision.io_helpers import LIMIT
from vision.io import decode_image, sniff_format


def test_accepts_each_allowed_format(make_image):
    for fmt, name in [("JPEG", "jpeg"), ("PNG", "png"), ("WEBP", "webp")]:
        decoded = decode_image(make_image(fmt, size=(40, 30)), max_pixels=LIMIT)
        assert decoded.format == name
        assert decoded.pixels.shape == (30, 40, 3) and decoded.pixels.dtype == np.uint8


def test_heic_roundtrip(make_image):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    image = Image.open(io.BytesIO(make_image("PNG", size=(64, 48))))
    buffer = io.BytesIO()
    try:
        image.save(buffer, format="HEIF")
    except (KeyError, OSError, ValueError) as exc:  # a build without an HEVC encoder
        pytest.skip(f"this pillow-heif cannot encode HEIC: {exc}")
    decoded = decode_image(buffer.getvalue(), max_pixels=LIMIT)
    assert decoded.format == "heic" and decoded.size == (64, 48)


def test_zero_bytes():
    with pytest.raises(EmptyImageError, match="empty"):
        decode_image(b"", max_pixels=LIMIT)


def test_truncated_jpeg_gives_error_not_half_image(make_image):
    data = make_image("JPEG", size=(256, 256))
    # One scan, no end marker: the end of the file ends the scan, which then runs out of data.
    with pytest.raises(CorruptImageError, match="JPEG data is incomplete"):
        decode_image(data[: len(data) // 2], max_pixels=LIMIT)


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"hello, this is a text file named photo.jpg\n", "text"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG"),
        (b"<svg width='10' height='10'></svg>", "SVG"),
    ],
)
def test_refuses_text_and_svg(data, said):
    with pytest.raises(UnsupportedImageFormatError, match=said):
        decode_image(data, max_pixels=LIMIT)


@pytest.mark.parametrize(("fmt", "said"), [("GIF", "GIF"), ("TIFF", "TIFF"), ("BMP", "BMP")])
def test_refuses_other_image_formats(make_image, fmt, said):
    with pytest.raises(UnsupportedImageFormatError, match=said) as info:
        decode_image(make_image(fmt), max_pixels=LIMIT)
    assert all(name in str(info.value) for name in ("JPEG", "PNG", "WebP", "HEIC"))


def test_png_renamed_as_jpeg_is_decoded_as_png(make_image):
    # Names and headers are never trusted: what decides is the content.
    data = make_image("PNG")
    assert sniff_format(data) == "png"
    assert decode_image(data, max_pixels=LIMIT).format == "png"


def test_jpeg_with_junk_after_end_marker_is_accepted(make_image):
    # Phones append data after EOI (motion photos); the pixels are whole, so it is accepted.
    data = make_image("JPEG")
    decoded = decode_image(data + b"\x00junk trailing bytes" * 50, max_pixels=LIMIT)
    reference = decode_image(data, max_pixels=LIMIT)
    assert np.array_equal(decoded.pixels, reference.pixels)


def test_reduced_decode_for_small_target(make_image):
    data = make_image("JPEG", size=(1600, 1200))
    full = decode_image(data, max_pixels=LIMIT)
    small = decode_image(data, max_pixels=LIMIT, target_size=256)
    assert full.size == (1600, 1200)
    assert small.size == (400, 300)  # 1/4 scale: still >= 256 on the short side
    assert small.original_size == (1600, 1200)


def test_corrupt_body_after_valid_header(make_image):
    data = bytearray(make_image("PNG", size=(64, 64)))
    data[60:120] = b"\xff" * 60  # damage the compressed stream
    with pytest.raises(CorruptImageError):
        decode_image(bytes(data), max_pixels=LIMIT)


# --- 16-bit grey, codec surprises ----------------------------------------------------------


def _png16(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(values.astype(np.uint16)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_16_bit_grey_is_scaled_by_the_format_range_not_its_own_peak():
    ramp = np.tile(np.linspace(0, 1000, 64), (64, 1))  # a dark photo: at most 1000 of 65535
    dark = decode_image(_png16(ramp), max_pixels=LIMIT).pixels
    assert dark.max() <= 4 and dark.mean() < 3  # stays dark (1000 / 257 = 3.9)
    flat = decode_image(_png16(np.full((32, 32), 30000)), max_pixels=LIMIT).pixels
    assert np.all(flat == 117)  # 30000 / 257, not stretched to white
    full = decode_image(_png16(np.full((8, 8), 65535)), max_pixels=LIMIT).pixels
    assert np.all(full == 255)


def test_unreadable_header_message_names_no_python_object():
    with pytest.raises(CorruptImageError) as info:
        decode_image(b"\x89PNG\r\n\x1a\n", max_pixels=LIMIT)
    assert "object at 0x" not in info.value.message and "BytesIO" not in info.value.message


def test_unexpected_codec_error_is_a_corrupt_image(make_image, monkeypatch):
    from PIL import ImageFile

    def broken_load(self):
        raise struct.error("unpack requires a buffer of 4 bytes")

    monkeypatch.setattr(ImageFile.ImageFile, "load", broken_load)
    with pytest.raises(CorruptImageError, match="damaged"):
        decode_image(make_image("PNG"), max_pixels=LIMIT)
