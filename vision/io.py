"""The one way pixels enter Shanyraq, for uploads and datasets alike.

The format is decided from the bytes (never the name or a client header); only JPEG, PNG,
WebP, HEIC and (where Pillow was built with it) AVIF are accepted. The header is checked
before any pixel is decoded (`vision.io_checks`: pixel, aspect and JPEG scan limits).
Truncated, incomplete or corrupt data is an error, never half an image: also a PNG whose
compressed rows stop early and a JPEG whose scan is cut short and closed with an end marker,
which Pillow would fill in (black rows, grey blocks). EXIF orientation is applied and capture
metadata returned apart from the pixels (`vision.io_exif`). Colours come out in sRGB, what the
models were trained on: a photo with an embedded RGB ICC profile other than sRGB (Display P3,
Adobe RGB, as phones and cameras write) is converted; a profile that cannot be used leaves the
colours as stored, never costing the photo (`vision.io_icc`). Transparent areas come out white,
whatever made them so: an alpha channel, a palette's alpha or a PNG colour key (tRNS).
"""

from __future__ import annotations

import codecs
import hashlib
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, features

from shanyraq.errors import (
    CorruptImageError,
    EmptyImageError,
    UnsupportedImageFormatError,
)
from vision.completeness import JPEG_ZERO_BITS, check_png_rows, incomplete, jpeg_scan_end
from vision.io_checks import (
    MAX_ASPECT,
    check_jpeg_scans,
    check_pixel_limit,
    open_header,
    read_photo_file,
)
from vision.io_exif import SWAPS_SIDES, UPRIGHT, CaptureMetadata, exif_orientation, read_metadata
from vision.io_icc import needs_srgb_conversion, to_srgb

__all__ = [
    "ALLOWED_FORMATS",
    "MAX_ASPECT",
    "CaptureMetadata",
    "DecodedImage",
    "accepted_format_names",
    "avif_supported",
    "check_jpeg_scans",
    "check_pixel_limit",
    "decode_file",
    "decode_image",
    "exif_orientation",
    "needs_srgb_conversion",
    "open_header",
    "sniff_format",
]

logger = logging.getLogger(__name__)

ALLOWED_FORMATS = ("jpeg", "png", "webp", "heic", "avif")  # avif: where `avif_supported()`
# ISO-BMFF (ftyp) brands. `mif1`/`msf1` name only the HEIF container, which HEIC (HEVC) and
# AVIF (AV1) photos share; the codec is told by the compatible brands that follow.
_HEVC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_AVIF_BRANDS = {b"avif", b"avis"}
_CONTAINER_BRANDS = {b"mif1", b"msf1"}
_MAX_FTYP_BRANDS = 64
_PILLOW_RAN_OUT = "image file is truncated"  # Pillow's words when the data ends before the image


@dataclass(frozen=True)
class DecodedImage:
    """RGB pixels (H, W, 3, uint8), upright and in sRGB, plus where they came from.

    Three sizes, each (width, height): `size` is the pixels' (smaller than the photo when it
    was decoded for a small `target_size`); `original_size` the full-resolution photo as
    stored in the file, before orientation; `display_size` the full-resolution photo as shown
    upright (after orientation): the one to record or show as the photo's width and height.
    """

    pixels: np.ndarray
    format: str  # one of ALLOWED_FORMATS
    original_size: tuple[int, int]  # (width, height) stored in the file, before orientation
    metadata: CaptureMetadata
    sha256: str

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) at full resolution, upright: `original_size` turned by the EXIF
        orientation the pixels were turned by (a quarter turn swaps the sides)."""
        width, height = self.original_size
        return (height, width) if self.metadata.orientation in SWAPS_SIDES else (width, height)


@cache
def avif_supported() -> bool:
    """Whether this Pillow decodes AVIF (built with libavif, Pillow 11.2 or later)."""
    try:
        return bool(features.check_module("avif"))
    except ValueError:  # a Pillow that does not know the feature at all
        return False


# How a message names each of ALLOWED_FORMATS.
_FORMAT_NAMES = {"jpeg": "JPEG", "png": "PNG", "webp": "WebP", "heic": "HEIC", "avif": "AVIF"}


def accepted_format_names() -> tuple[str, ...]:
    """The formats this installation decodes, as messages and pages name them: AVIF only
    where `avif_supported()`."""
    return tuple(
        _FORMAT_NAMES[kind] for kind in ALLOWED_FORMATS if kind != "avif" or avif_supported()
    )


def _accepted() -> str:
    names = accepted_format_names()
    return f"{', '.join(names[:-1])} or {names[-1]}"


def sniff_format(data: bytes) -> str:
    """Name the format from magic bytes; refuse all but the allowed ones with a clear reason."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    kind = _heif_kind(data)
    if kind == "avif" and not avif_supported():
        raise UnsupportedImageFormatError(
            "this file is an AVIF image, which this installation cannot decode (its Pillow "
            f"has no AVIF support); send a {_accepted()} photo"
        )
    if kind is not None:
        return kind
    raise UnsupportedImageFormatError(
        f"this file is {_describe(data)}, not a photo Shanyraq accepts; send a {_accepted()} photo"
    )


def _heif_kind(data: bytes) -> str | None:
    """The codec of a HEIF file by its ftyp box ("heic" or "avif"); None for any other file.

    A coding brand as the major brand decides; after a container brand (`mif1`, `msf1`) the
    compatible brands do. A container that names neither codec stays "heic", for pillow-heif
    to read or refuse.
    """
    if data[4:8] != b"ftyp":
        return None
    major = data[8:12]
    if major in _HEVC_BRANDS:
        return "heic"
    if major in _AVIF_BRANDS:
        return "avif"
    if major not in _CONTAINER_BRANDS:
        return None
    box_size = int.from_bytes(data[:4], "big")  # 0 (to the end) and 1 (64-bit) are left out
    end = min(box_size, len(data), 16 + 4 * _MAX_FTYP_BRANDS) if box_size >= 16 else 16
    compatible = {data[i : i + 4] for i in range(16, end - 3, 4)}
    if compatible & _HEVC_BRANDS:
        return "heic"
    if compatible & _AVIF_BRANDS:
        return "avif"
    return "heic"


def _describe(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    known = [  # first: zeros, where a copy stopped before writing any of the photo
        (data.count(0) == len(data), "nothing but zero bytes (its copy was cut off)"),
        (data.startswith((b"GIF87a", b"GIF89a")), "a GIF image"),
        (data.startswith((b"II*\x00", b"MM\x00*")), "a TIFF image"),
        (data.startswith(b"BM"), "a BMP image"),
        (data.startswith(b"%PDF"), "a PDF document"),
        (b"<svg" in head or (head.startswith(b"<?xml") and b"svg" in head), "an SVG drawing"),
    ]
    for matched, name in known:
        if matched:
            return name
    try:  # not final: a character cut in two by the 512 bytes looked at is still text
        text = codecs.getincrementaldecoder("utf-8")().decode(data[:512])
    except UnicodeDecodeError:
        return "of an unknown kind"
    controls = any(char < " " and char not in "\t\n\r\f\v\x1b" for char in text)
    return "of an unknown kind" if controls else "text"  # zero bytes: binary data


def decode_image(
    data: bytes,
    *,
    max_pixels: int,
    target_size: int | None = None,
    max_aspect: int | None = MAX_ASPECT,
) -> DecodedImage:
    """Decode photo bytes into upright sRGB pixels and capture metadata.

    `target_size` (shorter side in pixels) lets JPEG decode at 1/2, 1/4 or 1/8 scale when the
    caller only needs a small image; the result is never smaller than `target_size`.
    `max_aspect`: how many times as long as wide a photo may be (`check_pixel_limit`); None
    only for a stored original read to be shown, never for an upload or a model's input.
    """
    if not data:
        raise EmptyImageError("the file is empty; upload the photo again")
    fmt = sniff_format(data)
    if fmt == "jpeg":
        check_jpeg_scans(data)
    # A one-scan JPEG is decoded without the end marker that closes its scan (or up to the end
    # of the file, where that marker was left off), followed by the zero bits libjpeg would
    # invent there: a scan cut short then runs out of data, which Pillow reports, instead of
    # ending in grey blocks, which libjpeg only warns about.
    scan_end = jpeg_scan_end(data) if fmt == "jpeg" else None
    source = data if scan_end is None else data[:scan_end] + JPEG_ZERO_BITS
    image = open_header(source, fmt, max_pixels=max_pixels, scans_checked=True)
    original_size = image.size
    check_pixel_limit(*original_size, max_pixels=max_pixels, max_aspect=max_aspect)
    if fmt == "jpeg" and target_size:
        image.draft("RGB", (target_size, target_size))
    # Bits per sample, from IHDR (a PNG whose first chunk it is not, check_png_rows refuses).
    png_depth = data[24] if fmt == "png" and data[12:16] == b"IHDR" else None
    # Pixels first: reading EXIF may trigger a load, whose errors must not be swallowed.
    pixels = _load_rgb(image, fmt, scan_cut=scan_end is not None, png_depth=png_depth)
    if fmt == "png":
        check_png_rows(data)
    metadata = read_metadata(image)
    return DecodedImage(
        pixels=pixels,
        format=fmt,
        original_size=original_size,
        metadata=metadata,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def decode_file(
    path: Path, *, max_pixels: int, target_size: int | None = None, max_bytes: int | None = None
) -> DecodedImage:
    """`decode_image` of a photo file, read by `read_photo_file` (`max_bytes`: its limit)."""
    data = read_photo_file(path, max_bytes=max_bytes)
    return decode_image(data, max_pixels=max_pixels, target_size=target_size)


def _load_rgb(
    image: Image.Image, fmt: str, *, scan_cut: bool = False, png_depth: int | None = None
) -> np.ndarray:
    """The upright sRGB pixels; `scan_cut`: a JPEG handed over without its scan's end marker;
    `png_depth`: a PNG's bits per sample, for its colour key (`_colour_keyed`)."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # never accept half an image
    try:
        image.load()
        # Only rotated photos are transposed (a copy of the whole photo), by the very value
        # the metadata reports.
        method = UPRIGHT.get(exif_orientation(image) or 1)
        upright = image.transpose(method) if method is not None else image
        rgb = _to_rgb(upright, png_depth=png_depth)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if scan_cut and _PILLOW_RAN_OUT in str(exc):
            raise incomplete(fmt, "partway") from None
        # One line: a codec's words may hold line breaks (libheif ends its own with one).
        detail = " ".join(str(exc).split())
        raise CorruptImageError(
            f"the {fmt.upper()} data is truncated or damaged ({detail}); upload the photo again"
        ) from None
    except MemoryError:
        raise
    except Exception as exc:  # a codec may raise anything on hostile data: still this file's fault
        logger.warning("undecodable %s data", fmt, exc_info=True)
        raise CorruptImageError(
            f"the {fmt.upper()} data is damaged ({type(exc).__name__}); upload the photo again"
        ) from None
    return np.asarray(to_srgb(rgb, image.info.get("icc_profile")), dtype=np.uint8).copy()


def _to_rgb(image: Image.Image, *, png_depth: int | None = None) -> Image.Image:
    """RGB with transparent areas white, as a viewer would show them on paper, whatever made
    them so: an alpha channel, a palette's alpha, or a PNG colour key (a tRNS chunk naming the
    one grey level or colour of a grey or RGB photo that is transparent)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    rgb = _opaque_rgb(image)
    keyed = _colour_keyed(image, png_depth) if png_depth else None
    if keyed is None or not keyed.any():
        return rgb
    pixels = np.array(rgb)
    pixels[keyed] = 255
    return Image.fromarray(pixels)


def _colour_keyed(image: Image.Image, depth: int) -> np.ndarray | None:
    """Where a PNG colour key makes the photo transparent (True); None where it has none.

    Pillow gives the key as the file stores it, and the samples scaled to 8 bits: a 2- or 4-bit
    grey key is scaled here as the samples were (1-bit: only a black key shows); 16-bit RGB
    samples keep their high bytes alone, so the key is matched on those (a colour differing
    from it only below them, the same colour in the decoded photo, is white too). 16-bit grey
    is matched on all 16 bits.
    """
    key = image.info.get("transparency")
    if image.mode == "RGB" and isinstance(key, tuple) and len(key) == 3:
        return np.all(np.asarray(image) == np.asarray(key) >> (depth - 8), axis=-1)
    if isinstance(key, int) and image.mode in ("1", "L", "I;16", "I;16B", "I;16L", "I"):
        if image.mode == "L" and depth < 8:
            key = key * 255 // (2**depth - 1)
        return np.asarray(image.convert("L") if image.mode == "1" else image) == key
    return None


def _opaque_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey: scaled by the format's range, as Pillow does for 16-bit RGB, so a dark
        # photo stays dark for the exposure checks. Mode "I" (32-bit) is clipped to that range.
        array = np.clip(np.asarray(image, dtype=np.float64), 0.0, 65535.0)
        return Image.fromarray(np.round(array / 257.0).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")
