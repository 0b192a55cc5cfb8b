"""The one way pixels enter Shanyraq, for uploads and datasets alike.

The format is decided from the bytes (never the name or a client header); only JPEG, PNG,
WebP, HEIC and (where Pillow was built with it) AVIF are accepted. The pixel limit is enforced
from the header, before any pixel is decoded, so a tiny pixel bomb fails fast; it is ours, not
Pillow's (Pillow's own bomb limit is raised to it when it is set higher). A JPEG of more scans
than encoders write (each is a pass over the whole image) is refused before decoding too.
Truncated, incomplete or corrupt data is an error, never half an image: also a PNG whose
compressed rows stop early and a JPEG whose scan is cut short and closed with an end marker,
which Pillow would fill in (black rows, grey blocks). EXIF orientation is applied; capture
metadata is returned apart from the pixels.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import numbers
import threading
import warnings
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, features

from shanyraq.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageShapeError,
    ImageTooLargeError,
    UnsupportedImageFormatError,
)
from vision.completeness import JPEG_ZERO_BITS, check_png_rows, incomplete, jpeg_scan_end

logger = logging.getLogger(__name__)

ALLOWED_FORMATS = ("jpeg", "png", "webp", "heic", "avif")  # avif: where `avif_supported()`
_PIL_FORMAT = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "heic": "HEIF", "avif": "AVIF"}
# ISO-BMFF (ftyp) brands. `mif1`/`msf1` name only the HEIF container, which HEIC (HEVC) and
# AVIF (AV1) photos share; the codec is told by the compatible brands that follow.
_HEVC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_AVIF_BRANDS = {b"avif", b"avis"}
_CONTAINER_BRANDS = {b"mif1", b"msf1"}
_MAX_FTYP_BRANDS = 64

# EXIF tags (TIFF/EXIF specification numbers).
_TAG_MAKE, _TAG_MODEL, _TAG_DATETIME = 271, 272, 306
_IFD_EXIF, _IFD_GPS = 0x8769, 0x8825
_TAG_DATETIME_ORIGINAL = 36867

# Phones write 4:3 to 21:9 photos; panorama mode up to about 10:1.
MAX_ASPECT = 20
_PILLOW_RAN_OUT = "image file is truncated"  # Pillow's words when the data ends before the image
# Encoders write about ten scans (libjpeg's progressive default), mozjpeg's searched ones a few
# dozen. libjpeg passes over every block of the image for each scan, so a file of thousands of
# empty scans keeps a worker busy for minutes; nvImageCodec refuses more than 256 for this.
_MAX_JPEG_SCANS = 256


@dataclass(frozen=True)
class CaptureMetadata:
    """What the camera recorded about the shot; kept apart from the pixels."""

    taken_at: datetime | None = None
    latitude: float | None = None
    longitude: float | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    orientation: int = 1  # EXIF orientation before it was applied (1 = upright)
    # False: the file had an orientation tag that is no orientation (NaN, 6.5, 0, text...);
    # it was ignored (pixels left as stored, `orientation` 1), not guessed at.
    orientation_readable: bool = True

    @property
    def has_gps(self) -> bool:
        return self.latitude is not None and self.longitude is not None


@dataclass(frozen=True)
class DecodedImage:
    """RGB pixels (H, W, 3, uint8), upright, plus where they came from."""

    pixels: np.ndarray
    format: str  # one of ALLOWED_FORMATS
    original_size: tuple[int, int]  # (width, height) stored in the file, before orientation
    metadata: CaptureMetadata
    sha256: str

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]


_ORIENTATION_TAG = 0x0112  # EXIF Orientation
# What each orientation needs to become upright (as PIL's ImageOps.exif_transpose does).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@cache
def avif_supported() -> bool:
    """Whether this Pillow decodes AVIF (built with libavif, Pillow 11.2 or later)."""
    try:
        return bool(features.check_module("avif"))
    except ValueError:  # a Pillow that does not know the feature at all
        return False


def _accepted() -> str:
    names = ["JPEG", "PNG", "WebP", "HEIC"] + (["AVIF"] if avif_supported() else [])
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
    known = [
        (data.startswith((b"GIF87a", b"GIF89a")), "a GIF image"),
        (data.startswith((b"II*\x00", b"MM\x00*")), "a TIFF image"),
        (data.startswith(b"BM"), "a BMP image"),
        (data.startswith(b"%PDF"), "a PDF document"),
        (b"<svg" in head or (head.startswith(b"<?xml") and b"svg" in head), "an SVG drawing"),
    ]
    for matched, name in known:
        if matched:
            return name
    try:
        data[:512].decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "of an unknown kind"


def _register_heif() -> None:
    from pillow_heif import register_heif_opener

    register_heif_opener()


_PILLOW_LIMIT_LOCK = threading.Lock()


def _pillow_allows(max_pixels: int) -> None:
    """Raise Pillow's bomb limit (one per process) to at least `max_pixels`, so that ours decides.

    Only ever raised, and under a lock: no thread can see it below the limit it relies on, nor
    an update get lost; restoring it after each call would race with the other threads' calls.
    """
    if Image.MAX_IMAGE_PIXELS is None or max_pixels <= Image.MAX_IMAGE_PIXELS:
        return
    with _PILLOW_LIMIT_LOCK:
        if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
            logger.info("Pillow's pixel limit raised to io.max_pixels (%d)", max_pixels)
            Image.MAX_IMAGE_PIXELS = max_pixels


def open_header(data: bytes, fmt: str, *, max_pixels: int | None = None) -> Image.Image:
    """Open lazily (header only) as the sniffed format; damaged headers raise CorruptImageError.

    With `max_pixels`, Pillow's own bomb check never refuses an image within it (the caller's
    `check_pixel_limit` decides); without it, Pillow's limit stands.
    """
    if fmt == "heic":
        _register_heif()
    if max_pixels is not None:
        _pillow_allows(max_pixels)
    try:
        # Lazy: reads the header only. Pillow's own bomb check is a second line of defence.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=[_PIL_FORMAT[fmt]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        limit = max_pixels or Image.MAX_IMAGE_PIXELS or 0
        raise ImageTooLargeError(
            f"the image is over the limit of {limit / 1e6:.0f} MP, far larger than any phone "
            "photo; send the photo as the camera took it"
        ) from None
    except MemoryError:
        raise
    except Exception as exc:  # a codec's parser may raise anything on hostile bytes
        # Pillow's own words name Python objects ("<_io.BytesIO object at 0x...>"): logged, not
        # shown to the inspector.
        logger.info("unreadable %s header: %s: %s", fmt, type(exc).__name__, exc)
        raise CorruptImageError(
            f"the {fmt.upper()} header cannot be read; the file is damaged: take or export the "
            "photo again"
        ) from None


def check_pixel_limit(width: int, height: int, max_pixels: int) -> None:
    """Refuse an image over `max_pixels`, or longer than MAX_ASPECT times its width (judged
    from the header, before decoding).

    The aspect limit keeps resizing bounded: a model that scales the shorter side to its input
    and crops (`shorter_side_crop`) would scale a 1 x 60,000 strip, within any pixel limit, to
    224 x 13,440,000 pixels (9 GB) before cropping.
    """
    if width <= 0 or height <= 0:
        raise CorruptImageError("the image has no pixels; take the photo again")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"the image is {width}x{height} ({width * height / 1e6:.1f} MP), over the limit of "
            f"{max_pixels / 1e6:.0f} MP; send a smaller photo"
        )
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageShapeError(
            f"the image is {width}x{height}, more than {MAX_ASPECT} times as long as it is wide: "
            "not a photo of a room; take the photo again without panorama mode"
        )


def check_jpeg_scans(data: bytes) -> None:
    """Refuse a JPEG of more scans than any encoder writes, before any is decoded.

    Counted as start-of-scan markers: scan data never holds one (a 0xFF there is followed by
    0x00 or a restart marker), so only metadata or an embedded preview could add to the count.
    """
    scans = data.count(b"\xff\xda")
    if scans > _MAX_JPEG_SCANS:
        raise CorruptImageError(
            f"the JPEG has {scans} scans, where cameras write at most a few dozen; the file is "
            "damaged or made to overload the decoder: take or export the photo again"
        )


def decode_image(data: bytes, *, max_pixels: int, target_size: int | None = None) -> DecodedImage:
    """Decode photo bytes into upright RGB pixels and capture metadata.

    `target_size` (shorter side in pixels) lets JPEG decode at 1/2, 1/4 or 1/8 scale when the
    caller only needs a small image; the result is never smaller than `target_size`.
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
    image = open_header(source, fmt, max_pixels=max_pixels)
    original_size = image.size
    check_pixel_limit(*original_size, max_pixels=max_pixels)
    if fmt == "jpeg" and target_size:
        image.draft("RGB", (target_size, target_size))
    # Pixels first: reading EXIF may trigger a load, whose errors must not be swallowed.
    pixels = _load_rgb(image, fmt, scan_cut=scan_end is not None)
    if fmt == "png":
        check_png_rows(data)
    metadata = _read_metadata(image)
    return DecodedImage(
        pixels=pixels,
        format=fmt,
        original_size=original_size,
        metadata=metadata,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def decode_file(path: Path, *, max_pixels: int, target_size: int | None = None) -> DecodedImage:
    return decode_image(path.read_bytes(), max_pixels=max_pixels, target_size=target_size)


def _load_rgb(image: Image.Image, fmt: str, *, scan_cut: bool = False) -> np.ndarray:
    """The upright RGB pixels; `scan_cut`: a JPEG handed over without its scan's end marker."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # never accept half an image
    try:
        image.load()
        # Only rotated photos are transposed (a copy of the whole photo), by the very value
        # the metadata reports.
        method = _UPRIGHT.get(exif_orientation(image) or 1)
        upright = image.transpose(method) if method is not None else image
        rgb = _to_rgb(upright)
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
    return np.asarray(rgb, dtype=np.uint8).copy()


def exif_orientation(image: Image.Image) -> int | None:
    """The EXIF orientation, 1..8 (1 when there is none); None when it is there but malformed.

    Any value that is not exactly one of 1..8 (NaN from a zero denominator, 6.5, 0, 9, text, a
    list) is malformed: the caller leaves the pixels as stored. Never raises.
    """
    try:
        value = image.getexif().get(_ORIENTATION_TAG)
    except Exception:  # a broken EXIF block: nothing to go by
        logger.debug("unreadable EXIF block; orientation unknown", exc_info=True)
        return None
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return None
    if not math.isfinite(number) or not number.is_integer() or not 1 <= number <= 8:
        return None
    return int(number)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent areas become white, as a viewer would show them on paper.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey: scaled by the format's range, as Pillow does for 16-bit RGB, so a dark
        # photo stays dark for the exposure checks. Mode "I" (32-bit) is clipped to that range.
        array = np.clip(np.asarray(image, dtype=np.float64), 0.0, 65535.0)
        return Image.fromarray(np.round(array / 257.0).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def _read_metadata(image: Image.Image) -> CaptureMetadata:
    """Capture metadata; whatever cannot be read is left out (it must not cost the photo)."""
    try:
        exif = image.getexif()
        if not exif:
            return CaptureMetadata()
        orientation = exif_orientation(image)
        exif_ifd = _safe_ifd(exif, _IFD_EXIF)
        gps_ifd = _safe_ifd(exif, _IFD_GPS)
        return CaptureMetadata(
            taken_at=_exif_time(exif_ifd.get(_TAG_DATETIME_ORIGINAL) or exif.get(_TAG_DATETIME)),
            latitude=_gps_degrees(gps_ifd.get(2), gps_ifd.get(1), negative="S", limit=90.0),
            longitude=_gps_degrees(gps_ifd.get(4), gps_ifd.get(3), negative="W", limit=180.0),
            camera_make=_clean_text(exif.get(_TAG_MAKE)),
            camera_model=_clean_text(exif.get(_TAG_MODEL)),
            orientation=orientation or 1,
            orientation_readable=orientation is not None,
        )
    except Exception:
        logger.debug("unreadable EXIF block ignored", exc_info=True)
        return CaptureMetadata()


def _safe_ifd(exif: Image.Exif, tag: int) -> dict[int, object]:
    try:
        return dict(exif.get_ifd(tag))
    except Exception:
        return {}


def _clean_text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).replace("\x00", "").strip()
    return text or None


def _exif_time(value: object) -> datetime | None:
    text = _clean_text(value)
    if not text:
        return None
    try:
        return datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def _gps_degrees(dms: object, ref: object, *, negative: str, limit: float) -> float | None:
    """Signed degrees from EXIF (degrees, minutes, seconds); None unless finite within `limit`."""
    if not isinstance(dms, tuple | list) or len(dms) != 3:
        return None
    try:
        degrees, minutes, seconds = (float(x) for x in dms)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    value = degrees + minutes / 60.0 + seconds / 3600.0
    if not math.isfinite(value) or not 0.0 <= value <= limit:  # e.g. NaN from a 0 denominator
        return None
    ref_text = _clean_text(ref) or ""
    return -value if ref_text.upper().startswith(negative) else value
