"""Review 26 of vision.io_exif: EXIF text that a writer stored as bytes, or that is no text.

Pillow gives a text tag written as ASCII as str, but the same tag written as BYTE or UNDEFINED
(as some writers do) as bytes. Those were turned into text by `str()`: a make read
"b'Canon\\x00'", a GPS reference b"S" did not start with "S" (a southern latitude came out
northern), and a capture time stored as bytes was lost (the photo row's `taken_at` empty) and,
being there, kept the main IFD's DateTime from standing in. Text with control characters
(a terminal's escape codes) or of 30,000 characters was kept as it was. Now bytes are read as
UTF-8 text up to their first NUL, and a value that is no text (not UTF-8, control characters,
longer than any camera writes, a number) is left out; an unreadable capture time falls back to
DateTime as a missing one does.
"""

from __future__ import annotations

import io
import struct
from datetime import datetime

import pytest
from PIL import Image

from vision.io import decode_image

LIMIT = 50_000_000
ASCII, BYTE, SHORT, LONG, RATIONAL, UNDEFINED = 2, 1, 3, 4, 5, 7
MAKE, MODEL, DATETIME, DATETIME_ORIGINAL = 271, 272, 306, 36867
EXIF_IFD, GPS_IFD = 0x8769, 0x8825


def _ifd(entries: list[tuple[int, int, bytes]], at: int, element: dict[int, int]) -> bytes:
    """One little-endian IFD at offset `at` (entries: tag, type, value bytes), values that do
    not fit in an entry stored after it."""
    count = len(entries)
    table, values = struct.pack("<H", count), b""
    for tag, kind, value in entries:
        entry = struct.pack("<HHL", tag, kind, len(value) // element[kind])
        if len(value) <= 4:
            table += entry + value.ljust(4, b"\0")
        else:
            table += entry + struct.pack("<L", at + 2 + 12 * count + 4 + len(values))
            values += value + b"\0" * (len(value) % 2)
    return table + bytes(4) + values


def _jpeg(main=(), exif=(), gps=()) -> bytes:
    """A JPEG whose EXIF block holds these entries, each of the type given (not Pillow's)."""
    element = {ASCII: 1, BYTE: 1, SHORT: 2, LONG: 4, RATIONAL: 8, UNDEFINED: 1}
    pointers = [(EXIF_IFD, LONG, bytes(4)), (GPS_IFD, LONG, bytes(4))]
    exif_at = 8 + len(_ifd([*main, *pointers], 8, element))
    exif_ifd = _ifd(list(exif), exif_at, element)
    gps_at = exif_at + len(exif_ifd)
    pointers = [
        (EXIF_IFD, LONG, struct.pack("<L", exif_at)),
        (GPS_IFD, LONG, struct.pack("<L", gps_at)),
    ]
    block = b"II*\x00" + struct.pack("<L", 8) + _ifd([*main, *pointers], 8, element)
    block += exif_ifd + _ifd(list(gps), gps_at, element)
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 90, 90)).save(buffer, format="JPEG", exif=b"Exif\0\0" + block)
    return buffer.getvalue()


def _metadata(**entries):
    return decode_image(_jpeg(**entries), max_pixels=LIMIT).metadata


def _degrees(*values: float) -> bytes:
    return b"".join(struct.pack("<LL", round(value * 100), 100) for value in values)


def test_make_and_model_stored_as_bytes_are_read_as_text():
    meta = _metadata(main=[(MAKE, UNDEFINED, b"Canon\0"), (MODEL, BYTE, b"EOS R5\0\0\0\0")])
    assert (meta.camera_make, meta.camera_model) == ("Canon", "EOS R5")


def test_text_ends_at_its_first_nul():
    meta = _metadata(main=[(MAKE, ASCII, b"Canon\0garbage\0"), (MODEL, UNDEFINED, b"X1\0junk")])
    assert (meta.camera_make, meta.camera_model) == ("Canon", "X1")


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (UNDEFINED, b"EOS\xff\xfe R5\0"),  # not UTF-8
        (ASCII, b"Can\x1b[31mon\0"),  # a terminal's escape code
        (ASCII, b"Canon\nEOS\0"),  # a line break
        (ASCII, b"A" * 30_000 + b"\0"),  # longer than any camera writes
        (SHORT, struct.pack("<H", 7)),  # a number, not text
    ],
)
def test_a_make_that_is_no_text_is_left_out(kind, value):
    assert _metadata(main=[(MAKE, kind, value)]).camera_make is None


def test_a_capture_time_stored_as_bytes_is_read():
    meta = _metadata(exif=[(DATETIME_ORIGINAL, UNDEFINED, b"2024:05:06 07:08:09\0")])
    assert meta.taken_at == datetime(2024, 5, 6, 7, 8, 9)


@pytest.mark.parametrize(
    "original",
    [b"    :  :     :  :  \0", b"\xff\xff\xff\xff\0", b"unknown\0"],  # EXIF's blank "unknown"
)
def test_an_unreadable_capture_time_falls_back_to_datetime(original):
    meta = _metadata(
        main=[(DATETIME, ASCII, b"2024:05:06 07:08:09\0")],
        exif=[(DATETIME_ORIGINAL, UNDEFINED, original)],
    )
    assert meta.taken_at == datetime(2024, 5, 6, 7, 8, 9)


def test_gps_references_stored_as_bytes_keep_their_hemisphere():
    gps = [(1, UNDEFINED, b"S\0"), (2, RATIONAL, _degrees(43.25, 0, 0)),
           (3, BYTE, b"W\0"), (4, RATIONAL, _degrees(76.95, 0, 0))]  # fmt: skip
    meta = _metadata(gps=gps)
    assert (meta.latitude, meta.longitude) == (pytest.approx(-43.25), pytest.approx(-76.95))


def test_plain_ascii_text_is_read_as_before():
    meta = _metadata(
        main=[(MAKE, ASCII, b"Samsung\0"), (MODEL, ASCII, b"SM-A515F\0")],
        exif=[(DATETIME_ORIGINAL, ASCII, b"2026:03:14 10:20:30\0")],
    )
    assert (meta.camera_make, meta.camera_model) == ("Samsung", "SM-A515F")
    assert meta.taken_at == datetime(2026, 3, 14, 10, 20, 30)
