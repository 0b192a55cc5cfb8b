"""The bad-file corpus, made here, through vision.io: each file gets its expected outcome."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from shanyraq.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageTooLargeError,
    UnsupportedImageFormatError,
)
from vision.io import decode_image, sniff_format

LIMIT = 50_000_000


def _png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid PNG header for a huge all-black image; the compressed data is a few KB."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    compressor = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    data = b"".join(compressor.compress(row) for _ in range(200)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def _with_exif(make_image, **tags) -> bytes:
    image = Image.open(io.BytesIO(make_image("JPEG", size=(64, 48))))
    exif = Image.Exif()
    for key, value in tags.get("main", {}).items():
        exif[key] = value
    if "gps" in tags:
        exif.get_ifd(0x8825).update(tags["gps"])
    if "exif" in tags:
        exif.get_ifd(0x8769).update(tags["exif"])
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


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
    with pytest.raises(CorruptImageError, match="truncated or damaged"):
        decode_image(data[: len(data) // 2], max_pixels=LIMIT)


def test_png_pixel_bomb_fails_fast_in_little_memory():
    bomb = _png_bomb()
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
    assert "JPEG, PNG, WebP or HEIC" in str(info.value)


def test_png_renamed_as_jpeg_is_decoded_as_png(make_image):
    # Names and headers are never trusted: what decides is the content.
    assert sniff_format(make_image("PNG")) == "png"


def test_jpeg_with_junk_after_end_marker_is_accepted(make_image):
    # Phones append data after EOI (motion photos); the pixels are whole, so it is accepted.
    data = make_image("JPEG")
    decoded = decode_image(data + b"\x00junk trailing bytes" * 50, max_pixels=LIMIT)
    reference = decode_image(data, max_pixels=LIMIT)
    assert np.array_equal(decoded.pixels, reference.pixels)


def test_exif_rotation_is_applied(make_image):
    data = _with_exif(make_image, main={0x0112: 6})  # 6: rotate 90° clockwise to view
    decoded = decode_image(data, max_pixels=LIMIT)
    assert decoded.original_size == (64, 48)
    assert decoded.size == (48, 64)
    assert decoded.metadata.orientation == 6
    # The left edge of the stored image (dark end of the gradient) is now at the top.
    assert decoded.pixels[0].mean() < decoded.pixels[-1].mean()


def test_gps_and_camera_metadata_extracted(make_image):
    data = _with_exif(
        make_image,
        main={271: "Samsung", 272: "SM-A515F"},
        gps={1: "N", 2: (49.0, 48.0, 36.0), 3: "E", 4: (73.0, 6.0, 0.0)},
        exif={36867: "2026:03:14 10:20:30"},
    )
    meta = decode_image(data, max_pixels=LIMIT).metadata
    assert meta.camera_make == "Samsung" and meta.camera_model == "SM-A515F"
    assert meta.latitude == pytest.approx(49.81) and meta.longitude == pytest.approx(73.1)
    assert meta.has_gps
    assert meta.taken_at is not None and meta.taken_at.year == 2026


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
