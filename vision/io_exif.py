"""What EXIF says about a photo: which way is up, and when, where and with what it was taken.

Nothing here may cost the photo: an orientation that is no orientation is ignored (the pixels
stay as stored), and whatever capture metadata cannot be read is left out.
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass
from datetime import datetime

from PIL import Image

logger = logging.getLogger(__name__)

# EXIF tags (TIFF/EXIF specification numbers).
_TAG_MAKE, _TAG_MODEL, _TAG_DATETIME = 271, 272, 306
_IFD_EXIF, _IFD_GPS = 0x8769, 0x8825
_TAG_DATETIME_ORIGINAL = 36867
_ORIENTATION_TAG = 0x0112  # EXIF Orientation
# The longest EXIF text kept: makes, models and dates are a few dozen characters; a longer value
# (a crafted block may hold 64 KiB of one) is no name.
_MAX_TEXT_CHARS = 128
# The largest EXIF block read. A JPEG's APP1 segment holds at most 64 KiB, and phones and
# cameras write that same block into their HEIC, PNG and WebP files; a PNG eXIf or WebP EXIF
# chunk has no such bound, and Pillow's parse of a crafted one of 65,535 entries (under 1 MB)
# takes tens of seconds. A larger block is left unread, as one that cannot be read.
MAX_EXIF_BYTES = 1 << 16
# What each orientation needs to become upright (as PIL's ImageOps.exif_transpose does).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# The orientations whose upright photo has width and height swapped (a quarter turn).
SWAPS_SIDES = frozenset({5, 6, 7, 8})


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


def exif_orientation(image: Image.Image) -> int | None:
    """The EXIF orientation, 1..8 (1 when there is none); None when it is there but malformed,
    or in an EXIF block over `MAX_EXIF_BYTES` (left unread).

    Any value that is not exactly one of 1..8 (NaN from a zero denominator, 6.5, 0, 9, text, a
    list) is malformed: the caller leaves the pixels as stored. Never raises.
    """
    try:
        exif = _exif(image)
        if exif is None:  # larger than any camera writes: left unread
            return None
        value = exif.get(_ORIENTATION_TAG)
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


def read_metadata(image: Image.Image) -> CaptureMetadata:
    """Capture metadata; whatever cannot be read is left out (it must not cost the photo).

    An orientation read before a later field failed is kept: it is the one the pixels were
    turned by, and `DecodedImage.display_size` goes by it.
    """
    orientation: int | None = 1
    try:
        exif = _exif(image)
        if exif is None:
            return CaptureMetadata(orientation_readable=False)
        if not exif:
            return CaptureMetadata()
        orientation = exif_orientation(image)
        exif_ifd = _safe_ifd(exif, _IFD_EXIF)
        latitude, longitude = _gps_position(_safe_ifd(exif, _IFD_GPS))
        return CaptureMetadata(
            taken_at=_exif_time(exif_ifd.get(_TAG_DATETIME_ORIGINAL))
            or _exif_time(exif.get(_TAG_DATETIME)),
            latitude=latitude,
            longitude=longitude,
            camera_make=_clean_text(exif.get(_TAG_MAKE)),
            camera_model=_clean_text(exif.get(_TAG_MODEL)),
            orientation=orientation or 1,
            orientation_readable=orientation is not None,
        )
    except Exception:
        logger.debug("unreadable EXIF block ignored", exc_info=True)
        return CaptureMetadata(
            orientation=orientation or 1, orientation_readable=orientation is not None
        )


def _exif(image: Image.Image) -> Image.Exif | None:
    """`image.getexif()`; None, unparsed, where the EXIF block is over `MAX_EXIF_BYTES`."""
    if image.format == "PNG" and "exif" not in image.info:
        image.load()  # as Pillow's getexif does: an eXIf chunk after the pixels is read then
    raw = image.info.get("exif")
    if raw is None:  # PNG's other place for it: hex digits in a text chunk
        raw = image.info.get("Raw profile type exif")
        size = (len(raw) - raw.count("\n")) // 2 if isinstance(raw, str) else 0
    else:
        size = len(raw) if isinstance(raw, bytes | bytearray) else 0
    if size > MAX_EXIF_BYTES:
        logger.info("EXIF block of %d bytes, over %d: left unread", size, MAX_EXIF_BYTES)
        return None
    return image.getexif()


def _safe_ifd(exif: Image.Exif, tag: int) -> dict[int, object]:
    try:
        return dict(exif.get_ifd(tag))
    except Exception:
        return {}


def _clean_text(value: object) -> str | None:
    """An EXIF text value (make, model, date, GPS reference) as text; None where it is none.

    Pillow gives a tag written as ASCII as str, and the same tag written as bytes (type BYTE or
    UNDEFINED, as some writers do) as bytes, read here as UTF-8, never shown in Python's b'...'
    notation. Text ends at its first NUL (the rest is padding); a value that is no text (a
    number, a list, bytes that are not UTF-8), holds control characters or is longer than any
    camera writes is left out, as unreadable.
    """
    if isinstance(value, bytes):
        try:
            value = value.split(b"\x00", 1)[0].decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str):
        return None
    text = value.split("\x00", 1)[0].strip()
    if not text or len(text) > _MAX_TEXT_CHARS or not text.isprintable():
        return None
    return text


def _exif_time(value: object) -> datetime | None:
    text = _clean_text(value)
    if not text:
        return None
    try:
        return datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def _gps_position(gps_ifd: dict[int, object]) -> tuple[float | None, float | None]:
    """Latitude and longitude from the GPS IFD; (None, None) for 0, 0.

    Phones without a fix write zeros there ("Null Island", in the Gulf of Guinea): no photo of a
    home in Kazakhstan is taken at it. One zero alone (the equator, Greenwich) stays.
    """
    latitude = _gps_degrees(gps_ifd.get(2), gps_ifd.get(1), negative="S", limit=90.0)
    longitude = _gps_degrees(gps_ifd.get(4), gps_ifd.get(3), negative="W", limit=180.0)
    if latitude == 0.0 and longitude == 0.0:
        return None, None
    return latitude, longitude


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
