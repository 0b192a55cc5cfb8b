"""Photo decoding guards (review 17): EXIF orientation in every format, crafted EXIF, scan count."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, features

from shanyraq.errors import CorruptImageError
from vision.io import decode_image
from vision.io_exif import UPRIGHT

LIMIT = 50_000_000
_FORMATS = ["JPEG", "PNG", "WEBP", "HEIF", "AVIF"]


def _quadrants() -> Image.Image:
    """64 x 48, four colours: any flip or turn moves them somewhere else."""
    pixels = np.zeros((48, 64, 3), np.uint8)
    pixels[:24, :32], pixels[:24, 32:] = (255, 0, 0), (0, 255, 0)
    pixels[24:, :32], pixels[24:, 32:] = (0, 0, 255), (255, 255, 0)
    return Image.fromarray(pixels)


def _corner_colours(pixels: np.ndarray) -> np.ndarray:
    """Mean colour of each quadrant's inner part (away from lossy codecs' blurred borders)."""
    h, w = pixels.shape[0] // 2, pixels.shape[1] // 2
    boxes = [(0, h - 4, 0, w - 4), (0, h - 4, w + 4, None),
             (h + 4, None, 0, w - 4), (h + 4, None, w + 4, None)]  # fmt: skip
    return np.array([pixels[y0:y1, x0:x1].reshape(-1, 3).mean(0) for y0, y1, x0, x1 in boxes])


def _encoded(image: Image.Image, fmt: str, **save: object) -> bytes:
    if fmt == "HEIF":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    if fmt == "AVIF" and not features.check_module("avif"):
        pytest.skip("this Pillow has no AVIF support")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", _FORMATS)
def test_every_orientation_is_applied_once_in_every_format(fmt, orientation):
    """pillow-heif applies HEIC's own rotation and resets the EXIF tag; the others leave it
    to vision.io: either way the photo comes out upright, turned once."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = _quadrants()
    lossless = {"lossless": True} if fmt == "WEBP" else {"quality": 95} if fmt != "PNG" else {}
    decoded = decode_image(_encoded(stored, fmt, exif=exif.tobytes(), **lossless), max_pixels=LIMIT)
    method = UPRIGHT.get(orientation)
    upright = np.asarray(stored.transpose(method) if method is not None else stored)
    assert decoded.size == (upright.shape[1], upright.shape[0])
    assert decoded.display_size == decoded.size
    np.testing.assert_allclose(_corner_colours(decoded.pixels), _corner_colours(upright), atol=40)


def _jpeg(**save: object) -> bytes:
    return _encoded(_quadrants(), "JPEG", **save)


def _with_segment(data: bytes, marker: int, payload: bytes) -> bytes:
    """`data` with an APPn segment (`marker`) right after its SOI."""
    segment = bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    return data[:2] + segment + data[2:]


def _tiff(*entries: tuple[int, int, int, int]) -> bytes:
    """An EXIF block: one IFD of (tag, type, count, value) entries, little-endian."""
    body = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries)
    return b"Exif\0\0II*\0" + struct.pack("<I", 8) + body + struct.pack("<I", 0)


@pytest.mark.parametrize(
    ("payload", "size", "readable"),
    [
        pytest.param(b"Exif\0\0", (64, 48), True, id="empty"),
        pytest.param(b"Exif\0\0" + bytes(range(256)) * 2, (64, 48), True, id="junk"),
        pytest.param(b"Exif\0\0II*\0" + struct.pack("<I", 10**6), (64, 48), True, id="ifd-beyond"),
        pytest.param(b"Exif\0\0II*\0\x08\0\0\0\x05\0", (64, 48), True, id="ifd-cut-short"),
        pytest.param(_tiff((0x0112, 3, 2**31, 100)), (64, 48), True, id="count-past-end"),
        pytest.param(_tiff((0x0112, 3, 1, 0)), (64, 48), False, id="orientation-0"),
        pytest.param(_tiff((0x0112, 3, 1, 65535)), (64, 48), False, id="orientation-65535"),
        pytest.param(_tiff((0x0112, 2, 2, 0x36)), (64, 48), False, id="orientation-text"),
        pytest.param(_tiff((0x0112, 4, 1, 6)), (48, 64), True, id="orientation-long"),
        pytest.param(_tiff((0x0112, 3, 1, 6), (0x8825, 4, 1, 8)), (48, 64), True, id="gps-loop"),
        pytest.param(_tiff((0x0112, 3, 1, 6), (0x8825, 4, 1, 10**6)), (48, 64), True, id="gps-out"),
    ],
)
def test_a_garbled_exif_block_costs_neither_photo_nor_orientation(payload, size, readable):
    decoded = decode_image(_with_segment(_jpeg(), 0xE1, payload), max_pixels=LIMIT)
    assert decoded.size == size
    assert decoded.metadata.orientation_readable is readable
    assert not decoded.metadata.has_gps


def test_a_png_exif_chunk_after_the_pixels_still_turns_them():
    """PNG allows eXIf after IDAT; Pillow reads it only once the pixels are loaded."""
    exif = Image.Exif()
    exif[0x0112] = 6
    png = _encoded(_quadrants(), "PNG")
    chunk = exif.tobytes()[6:]  # eXIf holds the TIFF block without the "Exif\0\0" prefix
    exif_chunk = struct.pack(">I", len(chunk)) + b"eXIf" + chunk
    exif_chunk += struct.pack(">I", zlib.crc32(b"eXIf" + chunk))
    iend = png.rfind(b"IEND") - 4
    decoded = decode_image(png[:iend] + exif_chunk + png[iend:], max_pixels=LIMIT)
    assert decoded.size == (48, 64) and decoded.metadata.orientation == 6


# --- the scan count: only what libjpeg reads of the photo ------------------------------------


def _noise(size: int) -> bytes:
    """Compressed video looks like this: about one FF DA pair in every 65,536 bytes."""
    return np.random.default_rng(17).integers(0, 256, size, np.uint8).tobytes()


@pytest.mark.parametrize("save", [{}, {"progressive": True}])
def test_a_motion_photo_with_its_video_after_the_picture_decodes(save):
    """Samsung and Google motion photos append a video after the JPEG's end marker; its bytes
    are never decoded and hold FF DA pairs by chance (about 270 in 18 MB)."""
    video = _noise(18_000_000)
    assert video.count(b"\xff\xda") > 256
    decoded = decode_image(_jpeg(**save) + video, max_pixels=LIMIT)
    assert decoded.size == (64, 48)


def test_ff_da_pairs_inside_metadata_are_no_scans():
    """A maker note or ICC profile is binary: its FF DA pairs are skipped with the segment."""
    data = _jpeg()
    for _ in range(4):
        data = _with_segment(data, 0xE2, b"\xff\xda" * 100)
    assert decode_image(data, max_pixels=LIMIT).size == (64, 48)


def _jpeg_with_scans(extra: int) -> bytes:
    """A progressive JPEG whose last scan is repeated `extra` times (libjpeg decodes it all)."""
    data = _jpeg(progressive=True)
    last, end = data.rfind(b"\xff\xda"), data.rfind(b"\xff\xd9")
    return data[:end] + data[last:end] * extra + data[end:]


def test_a_scan_bomb_is_still_refused_behind_a_thumbnail_and_fill_bytes():
    """An EXIF thumbnail's own end marker is inside its segment: counting goes on past it."""
    thumbnail = _encoded(Image.new("RGB", (8, 8)), "JPEG")
    filled = _jpeg_with_scans(400).replace(b"\xff\xda", b"\xff\xff\xff\xda")  # fill bytes
    bomb = _with_segment(filled, 0xE1, b"Exif\0\0" + thumbnail)
    with pytest.raises(CorruptImageError, match="scans"):
        decode_image(bomb, max_pixels=LIMIT)
    assert decode_image(_jpeg_with_scans(200), max_pixels=LIMIT).size == (64, 48)
