"""Helpers for the decoding tests (vision.io): the pixel limit they decode under, a PNG pixel
bomb, and JPEGs whose EXIF is written entry by entry (malformed values included)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

LIMIT = 50_000_000


def png_bomb(width: int = 20000, height: int = 20000, rows: int = 200) -> bytes:
    """A valid PNG header for a huge all-black image; the compressed data is a few KB, and
    holds only `rows` rows unless told more (a header-only bomb never gets to the rows)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    compressor = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    data = b"".join(compressor.compress(row) for _ in range(rows)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


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
