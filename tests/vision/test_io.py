"""The bad-file corpus, made here, through vision.io: each file gets its expected outcome."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image, features

import vision.io
from shanyraq.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageTooLargeError,
    UnsupportedImageFormatError,
)
from vision.io import decode_image, sniff_format

LIMIT = 50_000_000


def _png_bomb(width: int = 20000, height: int = 20000, rows: int = 200) -> bytes:
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
    # One scan, no end marker: the end of the file ends the scan, which then runs out of data.
    with pytest.raises(CorruptImageError, match="JPEG data is incomplete"):
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


@pytest.mark.parametrize(("width", "height"), [(1, 21), (2100, 100), (1, 60_000)])
def test_a_strip_far_longer_than_wide_is_refused_before_decoding(make_image, width, height):
    """A 1 x 60,000 strip is within the pixel limit, but `shorter_side_crop` would scale it to
    224 x 13,440,000 pixels before cropping."""
    from shanyraq.errors import ImageShapeError

    with pytest.raises(ImageShapeError, match=f"{width}x{height}, more than 20 times") as caught:
        decode_image(make_image("PNG", size=(width, height)), max_pixels=LIMIT)
    assert caught.value.code == "image_shape" and caught.value.http_status == 422


@pytest.mark.parametrize("size", [(1, 20), (2000, 100), (4000, 1000)])
def test_a_panorama_within_the_aspect_limit_still_decodes(make_image, size):
    assert (
        decode_image(make_image("PNG", size=size), max_pixels=LIMIT).pixels.shape[:2] == size[::-1]
    )


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


# --- malformed metadata, 16-bit grey, codec surprises ---------------------------------------


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


# --- HEIF containers: HEIC or AVIF, told by the ftyp brands ---------------------------------


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


# --- the pixel limit is ours, also above Pillow's own --------------------------------------


def test_a_limit_above_pillows_decides_not_pillows_bomb_check(make_image, monkeypatch):
    # Pillow warns at MAX_IMAGE_PIXELS (89.5 MP) and refuses at twice that. Lowered here, so
    # that a photo between Pillow's limit and ours is small enough to decode in a test.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    decoded = decode_image(make_image("PNG", size=(64, 48)), max_pixels=5000)
    assert decoded.size == (64, 48)
    assert Image.MAX_IMAGE_PIXELS == 5000  # raised to ours (restored after the test)
    with pytest.raises(ImageTooLargeError, match=r"64x48 .* over the limit"):
        decode_image(make_image("PNG", size=(64, 48)), max_pixels=3000)
    assert Image.MAX_IMAGE_PIXELS == 5000  # never lowered


def test_a_raised_limit_admits_a_100_mp_header(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after
    # The header is the point, not 100 MP of pixels (1 GB as RGB): the loading is stubbed.
    monkeypatch.setattr(
        vision.io, "_load_rgb", lambda image, fmt, **_: np.zeros((1, 1, 3), np.uint8)
    )
    # 100 MP: over Pillow's 89.5 MP, under ours; every row there (their count is checked).
    header = _png_bomb(10000, 10000, rows=10000)
    decoded = decode_image(header, max_pixels=150_000_000)
    assert decoded.original_size == (10000, 10000)
    # Over ours: refused at the header, naming our limit, whichever check sees it first.
    with pytest.raises(ImageTooLargeError, match="150 MP"):
        decode_image(_png_bomb(20000, 10000), max_pixels=150_000_000)
    with pytest.raises(ImageTooLargeError, match="150 MP"):
        decode_image(_png_bomb(20000, 20000), max_pixels=150_000_000)


def test_pillows_limit_is_not_lowered_by_a_smaller_one(make_image, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    before = Image.MAX_IMAGE_PIXELS
    decode_image(make_image("PNG"), max_pixels=LIMIT)
    assert before == Image.MAX_IMAGE_PIXELS
