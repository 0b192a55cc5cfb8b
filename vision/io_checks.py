"""May this file be decoded? The checks `vision.io` makes on the file and its header, before
any pixel.

A photo file is read only when it is a regular file, and no further than the upload limit
(`read_photo_file`). The header is opened lazily as the format sniffed from the bytes; the
pixel limit, the aspect limit and (for JPEG) the scan count are judged from it, so a tiny pixel
bomb or a file of thousands of empty scans fails fast. The pixel limit is ours, not Pillow's:
Pillow's own bomb limit is raised to it when it is set higher, and is judged here, not by
Pillow's warning (whose filters are process-wide). `vision.gpu` makes the same checks through
these.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import re
import stat
import threading
from pathlib import Path

from PIL import Image, ImageFile

from shanyraq.errors import CorruptImageError, ImageError, ImageShapeError, ImageTooLargeError
from vision.io_avif import check_avif_coded_size

logger = logging.getLogger(__name__)

_PIL_FORMAT = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "heic": "HEIF", "avif": "AVIF"}
# Phones write 4:3 to 21:9 photos; panorama mode up to about 10:1.
MAX_ASPECT = 20
# Encoders write about ten scans (libjpeg's progressive default), mozjpeg's searched ones a few
# dozen. libjpeg passes over every block of the image for each scan, so a file of thousands of
# empty scans keeps a worker busy for minutes; nvImageCodec refuses more than 256 for this.
_MAX_JPEG_SCANS = 256
# A marker as libjpeg finds one: 0xFF (the last of any fill 0xFFs), then a code that is not a
# stuffed zero, a restart or TEM (those sit in scan data or have no length). Bytes before it are
# skipped, as libjpeg skips them. (No `\xff+`: a leading literal keeps the search in C speed.)
_JPEG_MARKER = re.compile(rb"\xff([^\x00\x01\xd0-\xd7\xff])")
_JPEG_EOI, _JPEG_SOS = 0xD9, 0xDA


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


def open_header(
    data: bytes, fmt: str, *, max_pixels: int | None = None, scans_checked: bool = False
) -> Image.Image:
    """Open lazily (header only) as the sniffed format; damaged headers raise CorruptImageError.

    An image over Pillow's pixel limit raises ImageTooLargeError, judged here from the header
    size: with `max_pixels` that limit is at least ours (the caller's `check_pixel_limit`
    decides below it); without it, Pillow's limit stands. A JPEG of more scans than any
    encoder writes is refused here too (`check_jpeg_scans`), so that no caller that opens its
    header here (vision.gpu's decode on the device among them) hands a scan bomb to a decoder;
    `scans_checked`: the caller counted them already (vision.io, before its own scan walk).
    An AVIF's AV1 pictures are judged by the size their sequence headers give, which libavif
    decodes whatever the header states (`vision.io_avif`).
    """
    if fmt == "jpeg" and not scans_checked:
        check_jpeg_scans(data)
    if fmt == "heic":
        _register_heif()
    if max_pixels is not None:
        _pillow_allows(max_pixels)
    if fmt == "avif":  # its header may state a smaller size than libavif decodes
        check_avif_coded_size(data, max_pixels or Image.MAX_IMAGE_PIXELS)
    try:
        image = _open_unchecked(data, _PIL_FORMAT[fmt])
    except Image.DecompressionBombError:  # WebP's parser checks its canvas as it reads
        raise _too_large(max_pixels) from None
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
    limit = Image.MAX_IMAGE_PIXELS
    # Counted as Pillow counts: a zero side is one (check_pixel_limit refuses it afterwards).
    if limit is not None and max(1, image.width) * max(1, image.height) > limit:
        image.close()
        raise _too_large(max_pixels, image.size)
    return image


def _open_unchecked(data: bytes, pil_format: str) -> ImageFile.ImageFile:
    """What `Image.open(..., formats=[pil_format])` does, less its bomb check: the caller's.

    Pillow's check only warns between its limit and twice it, and a warning becomes an error
    through the process-wide warnings filters alone: `catch_warnings` in one thread loses
    another thread's filter, or leaves its own behind for the whole process.
    """
    if pil_format not in Image.OPEN:
        Image.init()  # as Image.open does for a format no plugin has registered yet
    factory, accept = Image.OPEN[pil_format]
    verdict = accept(data[:16]) if accept is not None else True
    if isinstance(verdict, str) or not verdict:  # a string: Pillow's "known, not supported"
        raise SyntaxError(verdict or f"not a {pil_format} file")
    return factory(io.BytesIO(data), "")


def _too_large(max_pixels: int | None, size: tuple[int, int] = (0, 0)) -> ImageTooLargeError:
    """As `check_pixel_limit` words it (a phone's 108 or 200 MP mode gets here, on Pillow's
    limit): the size where the header gave one."""
    limit = max_pixels or Image.MAX_IMAGE_PIXELS or 0
    width, height = size
    stated = f" {width}x{height} ({width * height / 1e6:.1f} MP)," if width and height else ""
    return ImageTooLargeError(
        f"the image is{stated} over the limit of {limit / 1e6:.0f} MP; send a smaller photo"
    )


def check_pixel_limit(
    width: int, height: int, max_pixels: int, *, max_aspect: int | None = MAX_ASPECT
) -> None:
    """Refuse an image over `max_pixels`, or longer than `max_aspect` times its width (judged
    from the header, before decoding).

    The aspect limit keeps resizing bounded: a model that scales the shorter side to its input
    and crops (`shorter_side_crop`) would scale a 1 x 60,000 strip, within any pixel limit, to
    224 x 13,440,000 pixels (9 GB) before cropping. `max_aspect=None` leaves it out, for a
    stored original decoded to be shown, which may have been filed before the limit existed:
    its pixels stay bounded by the pixel limit, and whoever scales them to a model's input
    judges the shape itself (serving.stored_decode.check_explainable).
    """
    if width <= 0 or height <= 0:
        raise CorruptImageError("the image has no pixels; take the photo again")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"the image is {width}x{height} ({width * height / 1e6:.1f} MP), over the limit of "
            f"{max_pixels / 1e6:.0f} MP; send a smaller photo"
        )
    if max_aspect is not None and max(width, height) > max_aspect * min(width, height):
        raise ImageShapeError(
            f"the image is {width}x{height}, more than {max_aspect} times as long as it is wide: "
            "not a photo of a room; take the photo again without panorama mode"
        )


def check_jpeg_scans(data: bytes) -> None:
    """Refuse a JPEG of more scans than any encoder writes, before any is decoded.

    Counted as libjpeg reads them: segments are skipped by their lengths (an EXIF thumbnail, a
    maker note or ICC profile may hold FF DA bytes), scan data up to its next marker, and
    counting stops at the end marker: what follows it (a motion photo's video, an MPO's
    second picture) is never decoded, and holds FF DA pairs by chance.
    """
    if _jpeg_scans(data, stop_after=_MAX_JPEG_SCANS) > _MAX_JPEG_SCANS:
        raise CorruptImageError(
            f"the JPEG has more than {_MAX_JPEG_SCANS} scans, where cameras write at most a few "
            "dozen; the file is damaged or made to overload the decoder: take or export the "
            "photo again"
        )


def _jpeg_scans(data: bytes, *, stop_after: int) -> int:
    """Start-of-scan markers before the first end marker; counting stops past `stop_after`."""
    scans, pos = 0, 2
    while scans <= stop_after and (found := _JPEG_MARKER.search(data, pos)) is not None:
        code, pos = found.group(1)[0], found.end()
        if code == _JPEG_EOI:
            break
        scans += code == _JPEG_SOS
        # Every other marker has a length (its own two bytes included); an SOS's covers its
        # header only, and the search skips the scan data that follows.
        pos += max(int.from_bytes(data[pos : pos + 2], "big"), 2)
    return scans


def _refuse_unless_regular(path: Path, mode: int) -> None:
    """A folder as the OSError the system gives for one; a FIFO, device or socket as an
    ImageError that says what it is."""
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    kinds = [(stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a device"),
             (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")]  # fmt: skip
    kind = next((name for test, name in kinds if test(mode)), "a special file")
    raise ImageError(f"the path is {kind}, not a regular file; give the photo file itself")


def read_photo_file(path: Path, *, max_bytes: int | None = None) -> bytes:
    """A photo file's bytes. A FIFO or device is refused from its stat, never opened: reading
    one blocks forever or never ends. Over `max_bytes` (the upload limit, `io.max_bytes`) the
    file is refused having read no more than `max_bytes + 1` bytes. A missing, unreadable file
    or a folder raises the OSError the system gives (FileNotFoundError, IsADirectoryError).
    """
    _refuse_unless_regular(path, path.stat().st_mode)
    # O_NONBLOCK: should the path become a FIFO after the stat, opening it still returns.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    with open(fd, "rb") as file:
        _refuse_unless_regular(path, os.fstat(fd).st_mode)
        data = file.read() if max_bytes is None else file.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageTooLargeError(
            f"the file is over {max_bytes} bytes, the io.max_bytes limit; send a smaller photo "
            "(the phone camera's normal setting) or raise io.max_bytes"
        )
    return data


def unreadable_reason(exc: ImageError | OSError) -> str:
    """Why a photo file cannot be read, for an operator naming its row: the decoder's words
    without their advice, which is written for an inspector's upload ("upload it again")."""
    if isinstance(exc, ImageError):
        return exc.message.rsplit("; ", 1)[0]
    return f"cannot read it: {exc.strerror or exc}"
