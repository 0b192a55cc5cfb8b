"""vision.io (review 14): the size of a photo as shown upright, and colours brought to sRGB."""

from __future__ import annotations

import io
import logging
import uuid

import numpy as np
import pytest
from PIL import Image, ImageCms

import vision.io
import vision.io_exif
import vision.io_icc
from tests.vision.icc_helpers import ADOBE_COLORANTS, ADOBE_GAMMA, rgb_profile
from vision.io import decode_image, needs_srgb_conversion

LIMIT = 50_000_000


def _pixels(size: tuple[int, int] = (64, 48), seed: int = 0) -> Image.Image:
    """Mid-saturated colours everywhere (where profiles differ most), no large flat areas."""
    width, height = size
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(40, 216, (height, width, 3), dtype=np.uint8))


def _encoded(image: Image.Image, fmt: str = "JPEG", **save: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def _oriented_jpeg(orientation: object, size: tuple[int, int] = (64, 48), **exif_ifds) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    for ifd, tags in exif_ifds.items():
        exif.get_ifd({"gps": 0x8825}[ifd]).update(tags)
    return _encoded(_pixels(size), "JPEG", exif=exif)


# --- width and height as shown ------------------------------------------------------------


def test_a_portrait_phone_photo_is_displayed_portrait():
    # Phones store a portrait photo as landscape pixels with Orientation 6.
    decoded = decode_image(_oriented_jpeg(6), max_pixels=LIMIT)
    assert decoded.original_size == (64, 48)  # as stored
    assert decoded.display_size == (48, 64) == decoded.size  # as shown, and as decoded


@pytest.mark.parametrize("orientation", range(1, 9))
def test_display_size_is_the_upright_pixels_size(orientation):
    decoded = decode_image(_oriented_jpeg(orientation), max_pixels=LIMIT)
    assert decoded.metadata.orientation == orientation
    assert decoded.display_size == decoded.size


def test_display_size_is_full_resolution_when_decoded_small():
    decoded = decode_image(_oriented_jpeg(8, size=(1600, 1200)), max_pixels=LIMIT, target_size=256)
    assert decoded.size == (300, 400)  # 1/4 scale, upright
    assert decoded.display_size == (1200, 1600)
    assert decoded.original_size == (1600, 1200)


@pytest.mark.parametrize("orientation", [0, 9, 65535])
def test_a_malformed_orientation_leaves_the_size_as_stored(orientation):
    decoded = decode_image(_oriented_jpeg(orientation), max_pixels=LIMIT)
    assert not decoded.metadata.orientation_readable
    assert decoded.display_size == decoded.original_size == decoded.size == (64, 48)


def test_an_unreadable_field_keeps_the_orientation_the_pixels_were_turned_by(monkeypatch):
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a field that cannot be read")

    monkeypatch.setattr(vision.io_exif, "_gps_degrees", broken)
    data = _oriented_jpeg(6, gps={1: "N", 2: (43.0, 15.0, 0.0), 3: "E", 4: (76.0, 57.0, 0.0)})
    decoded = decode_image(data, max_pixels=LIMIT)
    assert not decoded.metadata.has_gps  # left out, as before
    assert decoded.metadata.orientation == 6
    assert decoded.display_size == decoded.size == (48, 64)


# --- colours to sRGB ----------------------------------------------------------------------


def _srgb_bytes() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _adobe_to_srgb(rgb: np.ndarray) -> np.ndarray:
    """Adobe RGB values in sRGB, worked out from the colorimetry (not through LittleCMS)."""
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).profile
    to_xyz = np.array(ADOBE_COLORANTS).T
    from_xyz = np.linalg.inv(
        np.array([c[0] for c in (srgb.red_colorant, srgb.green_colorant, srgb.blue_colorant)]).T
    )
    linear = (rgb.astype(np.float64) / 255.0) ** ADOBE_GAMMA
    out = np.clip(linear @ to_xyz.T @ from_xyz.T, 0.0, 1.0)
    encoded = np.where(out <= 0.0031308, 12.92 * out, 1.055 * out ** (1 / 2.4) - 0.055)
    return np.round(encoded * 255.0)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
def test_an_adobe_rgb_photo_is_converted_to_srgb(fmt):
    if fmt == "HEIF":
        pytest.importorskip("pillow_heif").register_heif_opener()
    image = _pixels()
    adobe = rgb_profile(ADOBE_COLORANTS, ADOBE_GAMMA, "test Adobe RGB")
    save = {"quality": 95} if fmt != "PNG" else {}
    try:
        untagged = _encoded(image, fmt, **save)
    except (KeyError, OSError, ValueError) as exc:  # a pillow-heif without an HEVC encoder
        pytest.skip(f"this Pillow cannot encode {fmt}: {exc}")
    plain = decode_image(untagged, max_pixels=LIMIT).pixels
    tagged = decode_image(_encoded(image, fmt, icc_profile=adobe, **save), max_pixels=LIMIT)
    difference = np.abs(tagged.pixels.astype(int) - _adobe_to_srgb(plain))
    assert difference.max() <= 2  # LittleCMS's 8-bit tables round a little
    # Not already so: the stored values read as sRGB are visibly off (greens most).
    assert np.abs(tagged.pixels.astype(int) - plain).max() >= 10


def test_an_srgb_profile_changes_nothing():
    image = _pixels()
    plain = decode_image(_encoded(image, "PNG"), max_pixels=LIMIT)
    tagged = decode_image(_encoded(image, "PNG", icc_profile=_srgb_bytes()), max_pixels=LIMIT)
    assert np.array_equal(tagged.pixels, plain.pixels)
    assert not needs_srgb_conversion(Image.open(io.BytesIO(_encoded(image, "PNG"))))
    with_srgb = Image.open(io.BytesIO(_encoded(image, "JPEG", icc_profile=_srgb_bytes())))
    assert not needs_srgb_conversion(with_srgb)
    adobe = rgb_profile(ADOBE_COLORANTS, ADOBE_GAMMA, "test Adobe RGB")
    assert needs_srgb_conversion(Image.open(io.BytesIO(_encoded(image, "JPEG", icc_profile=adobe))))


def test_a_photo_without_a_profile_builds_no_transform(monkeypatch):
    def refuse(icc: bytes) -> None:
        raise AssertionError("no profile: nothing to look up")

    monkeypatch.setattr(vision.io_icc, "_srgb_transform", refuse)
    decoded = decode_image(_encoded(_pixels(), "JPEG"), max_pixels=LIMIT)
    assert decoded.size == (64, 48)


def test_a_profile_for_other_pixels_than_rgb_leaves_the_colours():
    image = _pixels()
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    plain = decode_image(_encoded(image, "PNG"), max_pixels=LIMIT)
    tagged = decode_image(_encoded(image, "PNG", icc_profile=lab), max_pixels=LIMIT)
    assert np.array_equal(tagged.pixels, plain.pixels)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_broken_profile_costs_nothing_and_is_logged_once(fmt, caplog):
    image = _pixels()
    broken = b"\0" * 128 + b"not a profile " + uuid.uuid4().bytes  # never seen before
    data = _encoded(image, fmt, icc_profile=broken)
    plain = decode_image(_encoded(image, fmt), max_pixels=LIMIT)
    with caplog.at_level(logging.INFO, logger="vision.io"):
        first = decode_image(data, max_pixels=LIMIT)
        second = decode_image(data, max_pixels=LIMIT)
    assert np.array_equal(first.pixels, plain.pixels)
    assert np.array_equal(second.pixels, plain.pixels)
    warnings = [r for r in caplog.records if r.name == "vision.io" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cannot be used" in warnings[0].getMessage()


def test_profiles_kept_are_bounded():
    for _ in range(vision.io_icc._TRANSFORMS_KEPT + 5):
        vision.io_icc._srgb_transform(b"not a profile " + uuid.uuid4().bytes)
    assert len(vision.io_icc._transforms) <= vision.io_icc._TRANSFORMS_KEPT


def test_orientation_and_profile_together():
    image = _pixels()
    exif = Image.Exif()
    exif[0x0112] = 6
    adobe = rgb_profile(ADOBE_COLORANTS, ADOBE_GAMMA, "test Adobe RGB")
    plain = decode_image(_encoded(image, "JPEG", exif=exif, quality=95), max_pixels=LIMIT)
    data = _encoded(image, "JPEG", exif=exif, icc_profile=adobe, quality=95)
    decoded = decode_image(data, max_pixels=LIMIT)
    assert decoded.display_size == decoded.size == (48, 64)
    assert np.abs(decoded.pixels.astype(int) - _adobe_to_srgb(plain.pixels)).max() <= 2


def test_every_name_other_modules_import_is_still_in_vision_io():
    names = ["ALLOWED_FORMATS", "MAX_ASPECT", "CaptureMetadata", "DecodedImage", "avif_supported",
             "check_jpeg_scans", "check_pixel_limit", "decode_file", "decode_image",
             "exif_orientation", "open_header", "sniff_format",
             "needs_srgb_conversion", "accepted_format_names"]  # fmt: skip
    assert [name for name in names if not hasattr(vision.io, name)] == []
    assert set(names) == set(vision.io.__all__)
