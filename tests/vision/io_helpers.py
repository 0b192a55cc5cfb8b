"""Helpers for the decoding tests (vision.io): the pixel limit they decode under, PNGs built
chunk by chunk from their filtered rows (a pixel bomb among them), JPEGs of noise and JPEGs cut
short, JPEGs whose EXIF is written entry by entry (malformed values included), where a JPEG's
marker segments lie, and a decode that must be refused with a one-line message."""

from __future__ import annotations

import io
import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from shanyraq.errors import CorruptImageError
from vision.io import decode_image

LIMIT = 50_000_000
# Adam7's passes as (x0, dx, y0, dy): where a pass's columns and rows start, and their step.
ADAM7 = ((0, 8, 0, 8), (4, 8, 0, 8), (0, 4, 4, 8), (2, 4, 0, 4),
         (0, 2, 2, 4), (1, 2, 0, 2), (0, 1, 1, 2))  # fmt: skip


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body and the CRC over type and body."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_file(
    header: tuple[int, int, int, int, int],
    filtered: bytes,
    *,
    idat_size: int | None = None,
    extra: bytes = b"",
) -> bytes:
    """A PNG from IHDR (width, height, depth, colour type, interlace) and its filtered rows,
    compressed as one zlib stream cut into IDAT chunks of `idat_size` bytes."""
    width, height, depth, colour, interlace = header
    stream = zlib.compress(filtered)
    size = idat_size or len(stream)
    idats = b"".join(png_chunk(b"IDAT", stream[i : i + size]) for i in range(0, len(stream), size))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra + idats + png_chunk(b"IEND", b"")


def png_rows(pixels: np.ndarray) -> list[bytes]:
    """The filtered rows of a non-interlaced image: filter type 0 (none) on each row."""
    return [b"\x00" + row.tobytes() for row in pixels]


def adam7_rows(pixels: np.ndarray, pack=lambda row: row.tobytes()) -> list[bytes]:
    """The filtered rows of an Adam7-interlaced image, pass after pass."""
    rows = []
    for x0, dx, y0, dy in ADAM7:
        reduced = pixels[y0::dy, x0::dx]
        if reduced.shape[0] and reduced.shape[1]:
            rows += [b"\x00" + pack(row) for row in reduced]
    return rows


def png_bomb(width: int = 20000, height: int = 20000, rows: int = 200) -> bytes:
    """A valid PNG header for a huge all-black image; the compressed data is a few KB, and
    holds only `rows` rows unless told more (a header-only bomb never gets to the rows)."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    compressor = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    data = b"".join(compressor.compress(row) for _ in range(rows)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", data)
        + png_chunk(b"IEND", b"")
    )


def noise_jpeg(size: tuple[int, int] = (400, 400), mode: str = "RGB", **save) -> bytes:
    """A JPEG (quality 90) of random pixels, `size` as (width, height), saved in `mode` with
    Pillow's other save options `save`."""
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    buffer = io.BytesIO()
    image.convert(mode).save(buffer, format="JPEG", quality=90, **save)
    return buffer.getvalue()


def cut_jpeg(data: bytes, fraction: float) -> bytes:
    """`data` cut `fraction` of the way through, then closed with an EOI marker."""
    return data[: int(len(data) * fraction)] + b"\xff\xd9"


def jpeg_with_ifd(entries: list[tuple[int, int, int, bytes]], extra: bytes = b"") -> bytes:
    """A 40x20 JPEG whose EXIF is one little-endian IFD of (tag, type, count, value/offset)
    entries; `extra` follows the IFD (values stored by offset start at 8 + 2 + 12n + 4)."""
    ifd = b"II" + struct.pack("<HI", 42, 8) + struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHI", tag, kind, count) + value
    payload = b"Exif\0\0" + ifd + struct.pack("<I", 0) + extra
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), (10, 200, 10)).save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


AFTER_ONE_ENTRY = 8 + 2 + 12 + 4
RATIONAL, ASCII, SHORT = 5, 2, 3


def rational_orientation(numerator: int, denominator: int) -> bytes:
    """A JPEG whose EXIF orientation is stored as the RATIONAL numerator/denominator."""
    entry = (0x0112, RATIONAL, 1, struct.pack("<I", AFTER_ONE_ENTRY))
    return jpeg_with_ifd([entry], struct.pack("<II", numerator, denominator))


# What a refusal says: one line, ending with what to do.
TO_DO = re.compile(r"(upload the photo again|take or export the photo again)$")


def refused_message(data: bytes, **kwargs: int) -> str:
    with pytest.raises(CorruptImageError) as caught:
        decode_image(data, max_pixels=LIMIT, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and TO_DO.search(message), message
    return message


def pillow_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def jpeg_bytes(array: np.ndarray, **save: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=90, **save)
    return buffer.getvalue()


def noise_pixels(width: int = 400, height: int = 400, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def jpeg_segments(data: bytes) -> dict[str, tuple[int, int]]:
    """Where each of a JPEG's first marker segments lies: name -> (start, end)."""
    names = {0xE0: "APP0", 0xDB: "DQT", 0xC0: "SOF0", 0xC4: "DHT", 0xDA: "SOS"}
    found: dict[str, tuple[int, int]] = {}
    pos = 2
    while pos < len(data) and data[pos] == 0xFF:
        marker, length = data[pos + 1], int.from_bytes(data[pos + 2 : pos + 4], "big")
        found.setdefault(names.get(marker, hex(marker)), (pos, pos + 2 + length))
        if marker == 0xDA:
            break
        pos += 2 + length
    return found
