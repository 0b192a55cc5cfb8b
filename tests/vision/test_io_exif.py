"""EXIF metadata through vision.io: orientation applied, GPS and camera read, malformed values
(orientation, coordinates that are no place) ignored rather than fatal."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from tests.vision.io_helpers import (
    AFTER_ONE_ENTRY,
    ASCII,
    LIMIT,
    RATIONAL,
    SHORT,
    jpeg_with_ifd,
    rational_orientation,
)
from vision.io import decode_image


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


# --- malformed metadata --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        # RATIONAL 6/0: Pillow gives NaN, which int() refused with a bare ValueError.
        ("6/0", rational_orientation(6, 0)),
        ("13/2", rational_orientation(13, 2)),
        ("huge", rational_orientation(2**32 - 1, 1)),
        ("text '6'", jpeg_with_ifd([(0x0112, ASCII, 2, b"6\0\0\0")])),
        ("0", jpeg_with_ifd([(0x0112, SHORT, 1, struct.pack("<HH", 0, 0))])),
        ("9", jpeg_with_ifd([(0x0112, SHORT, 1, struct.pack("<HH", 9, 0))])),
        ("65535", jpeg_with_ifd([(0x0112, SHORT, 1, struct.pack("<HH", 65535, 0))])),
    ],
)
def test_malformed_orientation_is_ignored_not_fatal(name, data):
    decoded = decode_image(data, max_pixels=LIMIT)
    assert decoded.size == (40, 20), name  # pixels left as stored
    assert decoded.metadata.orientation == 1 and not decoded.metadata.orientation_readable


def test_orientation_stored_as_a_whole_rational_is_applied():
    decoded = decode_image(rational_orientation(6, 1), max_pixels=LIMIT)
    assert decoded.size == (20, 40) and decoded.metadata.orientation == 6
    assert decoded.metadata.orientation_readable


def test_valid_orientation_is_readable(make_image):
    meta = decode_image(_with_exif(make_image, main={0x0112: 3}), max_pixels=LIMIT).metadata
    assert meta.orientation == 3 and meta.orientation_readable
    plain = decode_image(make_image("JPEG"), max_pixels=LIMIT).metadata
    assert plain.orientation == 1 and plain.orientation_readable


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        ((1, 0, 0, 0, 0, 0), (73, 1, 6, 1, 0, 1)),  # 1/0 degrees: NaN
        ((95, 1, 0, 1, 0, 1), (73, 1, 6, 1, 0, 1)),  # 95 degrees north: no such place
        ((49, 1, 48, 1, 36, 1), (200, 1, 0, 1, 0, 1)),  # 200 degrees east
    ],
)
def test_gps_that_is_no_place_is_dropped(lat, lon):
    gps_at = AFTER_ONE_ENTRY  # the GPS IFD follows the main one
    entries_at = gps_at + 2 + 4 * 12 + 4  # then the rationals of its four entries
    gps = struct.pack("<H", 4)
    gps += struct.pack("<HHI", 1, ASCII, 2) + b"N\0\0\0"
    gps += struct.pack("<HHII", 2, RATIONAL, 3, entries_at)
    gps += struct.pack("<HHI", 3, ASCII, 2) + b"E\0\0\0"
    gps += struct.pack("<HHII", 4, RATIONAL, 3, entries_at + 24)
    gps += struct.pack("<I", 0) + struct.pack("<6I", *lat) + struct.pack("<6I", *lon)
    data = jpeg_with_ifd([(0x8825, 4, 1, struct.pack("<I", gps_at))], gps)
    meta = decode_image(data, max_pixels=LIMIT).metadata
    assert not meta.has_gps
    assert meta.latitude is None or np.isfinite(meta.latitude)
    assert meta.longitude is None or np.isfinite(meta.longitude)
