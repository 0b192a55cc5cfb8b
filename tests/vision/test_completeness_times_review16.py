"""Review 16: photos cut at every kind of boundary, and the times the pages show.

A photo is either decoded whole or refused with a one-line error that says what to do; never
filled in with grey blocks or black rows (beyond the last block a cut scan may lose, below).
The pages show times in the site's zone: Kazakhstan has kept one zone, UTC+5, since
2024-03-01; stored times are UTC, naive ones included; the date is in the reader's words.
"""

from __future__ import annotations

import io
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import yaml
from PIL import Image

from serving.web.i18n import translator
from serving.web.times import shown_time, utc_offset
from shanyraq.errors import CorruptImageError
from tests.vision.io_helpers import (
    LIMIT,
    adam7_rows,
    jpeg_bytes,
    jpeg_segments,
    noise_pixels,
    pillow_pixels,
    png_chunk,
    png_file,
    png_rows,
    refused_message,
)
from vision.io import decode_image

ROOT = Path(__file__).resolve().parents[2]


# --- JPEG: cut at every kind of boundary ------------------------------------------------------


@pytest.mark.parametrize("segment", ["APP0", "DQT", "SOF0", "DHT", "SOS"])
@pytest.mark.parametrize("where", ["marker", "length", "middle", "last-byte"])
@pytest.mark.parametrize("closed", [False, True], ids=["bare", "closed-with-EOI"])
def test_jpeg_cut_inside_a_marker_segment_is_refused(segment, where, closed):
    data = jpeg_bytes(noise_pixels(64, 48))
    start, end = jpeg_segments(data)[segment]
    cut = {"marker": start + 1, "length": start + 3, "middle": (start + end) // 2}.get(
        where, end - 1
    )
    refused_message(data[:cut] + (b"\xff\xd9" if closed else b""))


@pytest.mark.parametrize("closed", [False, True], ids=["bare", "closed-with-EOI"])
def test_jpeg_of_only_its_header_is_refused_as_incomplete(closed):
    # Everything up to and with the scan header, no scan data: a header-only file.
    data = jpeg_bytes(noise_pixels(64, 48))
    header = data[: jpeg_segments(data)["SOS"][1]]
    assert "incomplete" in refused_message(header + (b"\xff\xd9" if closed else b""))


@pytest.mark.parametrize("save", [{}, {"subsampling": 0}, {"optimize": True}], ids=str)
@pytest.mark.parametrize("fraction", [0.0005, 0.01, 0.3, 0.7, 0.97])
@pytest.mark.parametrize("closed", [False, True], ids=["bare", "closed-with-EOI"])
def test_jpeg_cut_inside_its_entropy_coded_data_is_refused(save, fraction, closed):
    data = jpeg_bytes(noise_pixels(), **save)
    start = jpeg_segments(data)["SOS"][1]
    cut = start + max(1, int((len(data) - start) * fraction))
    assert "incomplete" in refused_message(data[:cut] + (b"\xff\xd9" if closed else b""))


@pytest.mark.parametrize("offset", [0, 1, 2], ids=["before-RST", "inside-RST", "after-RST"])
@pytest.mark.parametrize("closed", [False, True], ids=["bare", "closed-with-EOI"])
def test_restart_marker_jpeg_cut_at_any_restart_marker_is_refused(offset, closed):
    data = jpeg_bytes(noise_pixels(), restart_marker_rows=1)
    start = jpeg_segments(data)["SOS"][1]
    restarts = [m.start() for m in re.finditer(rb"\xff[\xd0-\xd7]", data[start:])]
    assert len(restarts) == 400 // 16 - 1
    for restart in restarts[::4] + restarts[-1:]:
        cut = start + restart + offset
        assert "incomplete" in refused_message(data[:cut] + (b"\xff\xd9" if closed else b""))


# A scan short by only its last few bytes ends in zero bits (vision.completeness adds 16 bytes
# of them, as libjpeg would): a documented tolerance. What it may invent is no grey band, only
# the last MCU (16 px in 4:2:0, plus the one row and column fancy upsampling mixes in).
SHORT_SCANS: dict[str, tuple[np.ndarray, dict[str, object]]] = {
    "noise-4:2:0": (noise_pixels(), {}),
    "noise-4:4:4": (noise_pixels(), {"subsampling": 0}),
    "restart-markers": (noise_pixels(), {"restart_marker_rows": 1}),
    "flat-wall": (np.full((400, 400, 3), 128, np.uint8), {}),
    "flat-wall-optimized": (np.full((400, 400, 3), 128, np.uint8), {"optimize": True}),
}


@pytest.mark.parametrize("name", list(SHORT_SCANS))
def test_jpeg_short_of_its_last_scan_bytes_loses_at_most_the_last_block(name):
    array, save = SHORT_SCANS[name]
    data = jpeg_bytes(array, **save)
    whole = pillow_pixels(data).astype(int)
    decoded = 0
    for missing in (*range(1, 17), *range(17, 130, 8)):  # each byte near the end, then fewer
        for ending in (b"", b"\xff\xd9"):
            try:
                pixels = decode_image(data[: -2 - missing] + ending, max_pixels=LIMIT).pixels
            except CorruptImageError:
                continue
            decoded += 1
            rows, columns = np.nonzero(np.abs(pixels.astype(int) - whole).max(axis=2))
            if rows.size:
                assert rows.min() >= 400 - 17 and columns.min() >= 400 - 17, (missing, ending)
    # The flat wall's last block is a few bits; its scan, a byte short, is still whole enough.
    assert decoded < 2 * 31


def test_jpeg_with_trailing_garbage_after_its_end_marker_decodes_whole():
    data = jpeg_bytes(noise_pixels(120, 80))
    for trailer in (b"\x00" * 50, b"garbage" * 30, b"\xff\xd8\xff\xe0 half a second file"):
        decoded = decode_image(data + trailer, max_pixels=LIMIT)
        np.testing.assert_array_equal(decoded.pixels, pillow_pixels(data))


def test_a_large_jpeg_is_decoded_once(monkeypatch):
    # The completeness check reads the scan's end, never a second decode of the photo.
    height, width = 1200, 1600
    ys, xs = np.mgrid[0:height, 0:width]
    array = np.dstack([xs * 255 // width, ys * 255 // height, (xs + ys) * 255 // 2800])
    array = array.astype(np.uint8) ^ (noise_pixels(width, height) & 15)  # a little grain
    data = jpeg_bytes(array)
    decoders: list[str] = []
    real = Image._getdecoder

    def counted(mode: str, name: str, *args: Any) -> Any:
        decoders.append(name)
        return real(mode, name, *args)

    monkeypatch.setattr(Image, "_getdecoder", counted)
    decoded = decode_image(data, max_pixels=LIMIT)
    assert decoded.size == (width, height) and decoders == ["jpeg"]
    monkeypatch.undo()
    np.testing.assert_array_equal(decoded.pixels, pillow_pixels(data))


# --- PNG ----------------------------------------------------------------------------------------


def _png_file(image: Image.Image, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **save)
    return buffer.getvalue()


def test_png_missing_its_end_chunk_decodes_whole():
    data = _png_file(Image.fromarray(noise_pixels(80, 60)))
    assert data.endswith(png_chunk(b"IEND", b""))
    decoded = decode_image(data[:-12], max_pixels=LIMIT)
    np.testing.assert_array_equal(decoded.pixels, noise_pixels(80, 60))


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.5, 0.99])
@pytest.mark.parametrize("closed", [False, True], ids=["bare", "closed-with-IEND"])
def test_png_cut_inside_its_image_data_is_refused(fraction, closed):
    data = _png_file(Image.fromarray(noise_pixels(80, 60)))
    body = data.index(b"IDAT") + 4
    cut = body + int((len(data) - 12 - 4 - body) * fraction)
    refused_message(data[:cut] + (png_chunk(b"IEND", b"") if closed else b""))


@pytest.mark.parametrize("kept", [8, 20, 33], ids=["signature", "half-IHDR", "IHDR"])
@pytest.mark.parametrize("closed", [False, True], ids=["bare", "closed-with-IEND"])
def test_png_of_only_its_header_is_refused(kept, closed):
    data = _png_file(Image.fromarray(noise_pixels(80, 60)))
    refused_message(data[:kept] + (png_chunk(b"IEND", b"") if closed else b""))


def _apng() -> tuple[bytes, list[np.ndarray]]:
    frames = [noise_pixels(80, 60, seed=seed) for seed in range(3)]
    buffer = io.BytesIO()
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(buffer, format="PNG", save_all=True, append_images=images[1:])
    data = buffer.getvalue()
    assert b"acTL" in data and b"fdAT" in data
    return data, frames


def test_apng_decodes_to_its_whole_default_image():
    data, frames = _apng()
    np.testing.assert_array_equal(decode_image(data, max_pixels=LIMIT).pixels, frames[0])
    # Cut in a later frame: the default image (the one scored) is still whole.
    cut = data[: data.index(b"fdAT") + 100]
    np.testing.assert_array_equal(decode_image(cut, max_pixels=LIMIT).pixels, frames[0])


@pytest.mark.parametrize("closed", [False, True], ids=["bare", "closed-with-IEND"])
def test_apng_cut_inside_its_default_image_is_refused(closed):
    data, _ = _apng()
    cut = data[: data.index(b"IDAT") + 2000]
    refused_message(cut + (png_chunk(b"IEND", b"") if closed else b""))


@pytest.mark.parametrize(("colour", "channels"), [(0, 1), (2, 3), (6, 4)])
def test_interlaced_16_bit_png_whole_is_exact_and_short_refused(colour, channels):
    width, height = 21, 13
    pixels = np.random.default_rng(colour).integers(0, 65536, (height, width, channels))
    pixels = pixels.astype(">u2")
    rows = adam7_rows(pixels)
    header = (width, height, 16, colour, 1)
    whole = png_file(header, b"".join(rows))
    decoded = decode_image(whole, max_pixels=LIMIT)
    # Every pixel of every pass in place: 16-bit levels scaled to 8 (vision.io: / 257).
    expected = np.round(pixels[..., :3].astype(np.float64) / 257).astype(np.uint8)
    if colour == 6:  # over white, as vision.io shows transparency
        alpha = pixels[..., 3:].astype(np.float64) / 65535
        expected = np.round(expected * alpha + 255 * (1 - alpha)).astype(np.uint8)
    expected = np.broadcast_to(expected, decoded.pixels.shape)
    difference = np.abs(decoded.pixels.astype(int) - expected)
    assert difference.max() <= 2  # alpha is blended in 8 bits: rounding, not misplacement
    for short in (rows[:-1], rows[: len(rows) // 2]):
        assert "PNG data is incomplete" in refused_message(png_file(header, b"".join(short)))


def test_16_bit_png_short_by_one_row_is_refused():
    pixels = np.random.default_rng(5).integers(0, 65536, (30, 20 * 3)).astype(">u2")
    rows = png_rows(pixels)
    assert "incomplete" in refused_message(png_file((20, 30, 16, 2, 0), b"".join(rows[:-1])))


# --- Times on the pages ------------------------------------------------------------------------


def _text(value: datetime | str, lang: str, zone: str, **kwargs: bool) -> str:
    shown = str(shown_time(value, t=translator(lang), zone=ZoneInfo(zone), **kwargs))
    found = re.fullmatch(r'<time datetime="([^"]+)">([^<]+)</time>', shown)
    assert found, shown
    machine, text = found.groups()
    # The machine-readable time is the same moment as the value.
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    assert datetime.fromisoformat(machine) == moment.replace(
        second=moment.second if kwargs.get("seconds") else 0, microsecond=0
    )
    return text


def _shipped_zone() -> str:
    return str(yaml.safe_load((ROOT / "configs/serving.yaml").read_text())["display_timezone"])


def test_the_shipped_zone_is_kazakhstans_single_zone_utc_plus_5_without_dst():
    # Since 2024-03-01 all of Kazakhstan is UTC+5; the system's tzdata must know it (2024a+).
    zone = ZoneInfo(_shipped_zone())
    moment = datetime(2024, 3, 1, tzinfo=UTC)
    while moment < datetime(2027, 1, 1, tzinfo=UTC):  # every 5 hours: any DST would show
        assert moment.astimezone(zone).utcoffset() == timedelta(hours=5), moment
        moment += timedelta(hours=5)


@pytest.mark.parametrize("zone", ["Asia/Almaty", "Asia/Qyzylorda", "Asia/Aqtobe"])
@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "1 June 2024, 17:00 (UTC+5)"),
        ("ru", "1 июня 2024 г., 17:00 (UTC+5)"),
        ("kk", "2024 ж. 1 маусым, 17:00 (UTC+5)"),
    ],
)
def test_kazakhstan_times_are_utc_plus_5_in_the_readers_words(zone, lang, expected):
    assert _text(datetime(2024, 6, 1, 12, 0, 30, tzinfo=UTC), lang, zone) == expected


def test_almaty_moved_from_utc_plus_6_to_5_on_1_march_2024():
    # The last minute at UTC+6, then the clock set back an hour: both times say their zone.
    before = datetime(2024, 2, 29, 17, 59, tzinfo=UTC)
    assert _text(before, "en", "Asia/Almaty") == "29 February 2024, 23:59 (UTC+6)"
    after = datetime(2024, 2, 29, 18, 30, tzinfo=UTC)
    assert _text(after, "en", "Asia/Almaty") == "29 February 2024, 23:30 (UTC+5)"
    assert _text(after + timedelta(hours=1), "ru", "Asia/Almaty") == (
        "1 марта 2024 г., 00:30 (UTC+5)"
    )


@pytest.fixture
def server_in_another_zone(monkeypatch):
    """The process's own zone set far from UTC: a naive time taken as local would show."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    "stored",
    [
        datetime(2024, 6, 1, 12, 0, 5),  # SQLite hands back naive datetimes
        "2024-06-01 12:00:05",  # the same, as text
        "2024-06-01T12:00:05.250000",
        "2024-06-01T12:00:05Z",
        "2024-06-01T15:00:05+03:00",  # another zone: the same moment
    ],
    ids=["naive", "naive-text", "naive-text-micro", "z-suffix", "offset"],
)
def test_a_stored_time_without_a_zone_is_utc(stored, server_in_another_zone):
    assert _text(stored, "en", "Asia/Almaty", seconds=True) == "1 June 2024, 17:00:05 (UTC+5)"


@pytest.mark.parametrize(
    ("stored", "lang", "expected"),
    [
        ("2024-12-31T18:59:59", "en", "31 December 2024, 23:59:59 (UTC+5)"),
        ("2024-12-31T19:00:00", "en", "1 January 2025, 00:00:00 (UTC+5)"),
        ("2024-12-31T19:00:00", "ru", "1 января 2025 г., 00:00:00 (UTC+5)"),
        ("2024-12-31T19:00:00", "kk", "2025 ж. 1 қаңтар, 00:00:00 (UTC+5)"),
        ("2025-06-30T19:00:00", "kk", "2025 ж. 1 шілде, 00:00:00 (UTC+5)"),
        ("2028-02-28T19:00:00", "ru", "29 февраля 2028 г., 00:00:00 (UTC+5)"),
        # Before the change: the old UTC+6 year boundary.
        ("2023-12-31T18:00:00", "en", "1 January 2024, 00:00:00 (UTC+6)"),
    ],
)
def test_midnight_and_year_boundaries_fall_on_the_local_day(
    stored, lang, expected, server_in_another_zone
):
    assert _text(stored, lang, "Asia/Almaty", seconds=True) == expected


def test_minutes_are_cut_not_rounded_up_past_midnight():
    # 23:59:59.9 is still the old day and year: shown as 23:59, never as 00:00 of the next.
    last = datetime(2024, 12, 31, 18, 59, 59, 900000, tzinfo=UTC)
    assert _text(last, "en", "Asia/Almaty") == "31 December 2024, 23:59 (UTC+5)"


@pytest.mark.parametrize(
    ("hours", "expected"), [(0, "UTC"), (5, "UTC+5"), (6, "UTC+6"), (-3.5, "UTC-3:30")]
)
def test_the_zone_is_written_as_an_offset_from_utc(hours, expected):
    assert utc_offset(timedelta(hours=hours)) == expected
