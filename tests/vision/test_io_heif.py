"""HEIF containers through vision.io: HEIC or AVIF, told by the ftyp brands; AVIF decoded where
Pillow can, refused as AVIF (not as a broken HEIC) where it cannot."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image, features

import vision.io
from shanyraq.errors import CorruptImageError, UnsupportedImageFormatError
from tests.vision.io_helpers import LIMIT
from vision.io import decode_image, sniff_format


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    """An ISO-BMFF file start: the ftyp box (major brand, version 0, compatible brands)."""
    body = major + b"\0\0\0\0" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\0\0\0\x08free" * 4


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        pytest.param(_ftyp(b"heic", b"mif1", b"heic"), "heic", id="iphone-heic"),
        pytest.param(_ftyp(b"mif1", b"mif1", b"heic"), "heic", id="mif1-heic"),
        pytest.param(_ftyp(b"msf1", b"msf1", b"hevc"), "heic", id="msf1-hevc"),
        # A container naming no codec: pillow-heif decides, as before.
        pytest.param(_ftyp(b"mif1", b"mif1", b"miaf"), "heic", id="mif1-only"),
        pytest.param(_ftyp(b"avif", b"avif", b"mif1", b"miaf", b"MA1B"), "avif", id="libavif"),
        pytest.param(_ftyp(b"mif1", b"mif1", b"miaf", b"avif"), "avif", id="mif1-avif"),
        pytest.param(_ftyp(b"msf1", b"msf1", b"avis"), "avif", id="msf1-avis"),
    ],
)
def test_heif_container_is_told_heic_or_avif_by_its_brands(header, kind, monkeypatch):
    monkeypatch.setattr(vision.io, "avif_supported", lambda: True, raising=False)
    assert sniff_format(header) == kind


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(_ftyp(b"mif1", b"mif1", b"miaf", b"avif"), id="mif1-avif"),
        pytest.param(_ftyp(b"avif", b"avif", b"mif1"), id="avif"),
    ],
)
def test_avif_without_decoder_is_refused_as_avif_not_as_broken_heic(header, monkeypatch):
    monkeypatch.setattr(vision.io, "avif_supported", lambda: False, raising=False)
    with pytest.raises(UnsupportedImageFormatError, match="AVIF") as info:
        decode_image(header, max_pixels=LIMIT)
    message = info.value.message
    assert "JPEG, PNG, WebP or HEIC" in message and "AVIF photo" not in message


def _avif(make_image, **save) -> bytes:
    if not features.check_module("avif"):
        pytest.skip("this Pillow has no AVIF support")
    image = Image.open(io.BytesIO(make_image("PNG", size=(64, 48))))
    buffer = io.BytesIO()
    image.save(buffer, format="AVIF", quality=90, **save)
    return buffer.getvalue()


@pytest.mark.parametrize("major", [b"avif", b"mif1"])
def test_avif_is_decoded_where_pillow_can(make_image, major):
    data = _avif(make_image)
    assert data[8:12] == b"avif" and b"mif1" in data[16:40]
    data = data[:8] + major + data[12:]
    decoded = decode_image(data, max_pixels=LIMIT)
    assert decoded.format == "avif" and decoded.size == (64, 48)
    reference = np.asarray(Image.open(io.BytesIO(make_image("PNG", size=(64, 48)))).convert("RGB"))
    assert np.abs(decoded.pixels.astype(int) - reference).mean() < 8  # lossy, but the photo


def test_avif_orientation_is_applied(make_image):
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_image(_avif(make_image, exif=exif.tobytes()), max_pixels=LIMIT)
    assert decoded.size == (48, 64) and decoded.metadata.orientation == 6
    assert decoded.pixels[0].mean() < decoded.pixels[-1].mean()  # the dark left edge on top


def test_truncated_avif_is_corrupt(make_image):
    data = _avif(make_image)
    for cut in (len(data) // 2, len(data) - 10):
        with pytest.raises(CorruptImageError, match="AVIF"):
            decode_image(data[:cut], max_pixels=LIMIT)
