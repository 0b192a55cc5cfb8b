"""Header reads in several threads at once leave the process's warning filters alone and give
each photo its own verdict; 0°/0° GPS ("Null Island", a phone without a fix) is no location."""

from __future__ import annotations

import io
import threading
import warnings

import pytest
from PIL import Image

from shanyraq.errors import ImageTooLargeError
from vision.io import decode_image, open_header

# Pillow's limit, lowered for these tests (restored after each): Pillow warns above it and
# refuses above twice it, so a 110 x 110 image lies in its warning band, 150 x 150 past it.
PILLOW_LIMIT = 10_000
WITHIN, WARNING_BAND, PAST = 90, 110, 150
THREADS = 6
WAIT_S = 30


def _encoded(side: int, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (120, 90, 60)).save(buffer, format=fmt)
    return buffer.getvalue()


def _verdict(data: bytes, fmt: str) -> tuple[int, int] | str:
    try:
        with open_header(data, fmt) as image:
            return image.size
    except ImageTooLargeError:
        return "too large"


@pytest.mark.parametrize("action", ["ignore", "error", "always"])
def test_header_reads_in_threads_at_once_leave_the_warning_filters_alone(action, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", PILLOW_LIMIT)
    Image.init()
    png_factory, png_accept = Image.OPEN["PNG"]
    inside = [threading.Event() for _ in range(THREADS)]
    release = [threading.Event() for _ in range(THREADS)]
    which = threading.local()

    def held_factory(fp, filename):
        # Every read is held inside its header parse until the test lets it go: all of them
        # are inside open_header at once, entered in order and let go in that same order.
        inside[which.index].set()
        assert release[which.index].wait(WAIT_S)
        return png_factory(fp, filename)

    monkeypatch.setitem(Image.OPEN, "PNG", (held_factory, png_accept))
    sides = [WITHIN if i % 2 == 0 else WARNING_BAND for i in range(THREADS)]
    verdicts: dict[int, tuple[int, int] | str] = {}

    def read(index: int) -> None:
        which.index = index
        verdicts[index] = _verdict(_encoded(sides[index]), "png")

    threads = [threading.Thread(target=read, args=(i,)) for i in range(THREADS)]
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter(action, Image.DecompressionBombWarning)
        filters_before = list(warnings.filters)
        try:
            for index, thread in enumerate(threads):
                thread.start()
                assert inside[index].wait(WAIT_S)
        finally:
            for index, thread in enumerate(threads):
                release[index].set()
                thread.join(WAIT_S)
        filters_after = list(warnings.filters)

    assert verdicts == {
        i: (side, side) if side == WITHIN else "too large" for i, side in enumerate(sides)
    }
    assert filters_after == filters_before
    assert not [w for w in shown if issubclass(w.category, Image.DecompressionBombWarning)]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("action", ["ignore", "error", "always"])
def test_the_verdict_on_pillows_limit_is_the_same_whatever_the_filters(fmt, action, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", PILLOW_LIMIT)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter(action, Image.DecompressionBombWarning)
        filters_before = list(warnings.filters)
        got = [_verdict(_encoded(side, fmt), fmt.lower()) for side in (WITHIN, WARNING_BAND, PAST)]
        assert list(warnings.filters) == filters_before
    assert got == [(WITHIN, WITHIN), "too large", "too large"]
    assert not [w for w in shown if issubclass(w.category, Image.DecompressionBombWarning)]


def test_our_limit_above_pillows_admits_the_warning_band_in_threads(monkeypatch):
    # With max_pixels, Pillow's limit is raised to ours and ours decides: no warning, no error.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", PILLOW_LIMIT)
    data = _encoded(WARNING_BAND)
    sizes: list[tuple[int, int]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        filters_before = list(warnings.filters)
        threads = [
            threading.Thread(
                target=lambda: sizes.append(open_header(data, "png", max_pixels=20_000).size)
            )
            for _ in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_S)
        assert list(warnings.filters) == filters_before
    assert sizes == [(WARNING_BAND, WARNING_BAND)] * THREADS


# --- 0°/0° is no location ------------------------------------------------------------------


def _jpeg_with_gps(gps: dict[int, object]) -> bytes:
    exif = Image.Exif()
    exif.get_ifd(0x8825).update(gps)  # Pillow writes the GPS IFD itself
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 60)).save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


@pytest.mark.parametrize(("lat_ref", "lon_ref"), [("N", "E"), ("S", "W")])
def test_zero_zero_gps_is_no_location(lat_ref, lon_ref):
    zero = (0.0, 0.0, 0.0)
    data = _jpeg_with_gps({1: lat_ref, 2: zero, 3: lon_ref, 4: zero})
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)[2] == zero  # it is written
    meta = decode_image(data, max_pixels=1_000_000).metadata
    assert not meta.has_gps
    assert (meta.latitude, meta.longitude) == (None, None)


@pytest.mark.parametrize(
    ("gps", "expected"),
    [
        # On the equator, or on the Greenwich meridian: one zero alone is a place.
        ({1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (76.0, 57.0, 0.0)}, (0.0, 76.95)),
        ({1: "N", 2: (51.0, 28.0, 48.0), 3: "W", 4: (0.0, 0.0, 0.0)}, (51.48, 0.0)),
        ({1: "N", 2: (43.0, 15.0, 0.0), 3: "E", 4: (76.0, 57.0, 0.0)}, (43.25, 76.95)),
    ],
)
def test_one_zero_coordinate_is_still_a_location(gps, expected):
    meta = decode_image(_jpeg_with_gps(gps), max_pixels=1_000_000).metadata
    assert meta.has_gps
    assert meta.latitude == pytest.approx(expected[0])
    assert meta.longitude == pytest.approx(expected[1])
