"""Is a decoded photo whole? Checks on the bytes that Pillow and libjpeg do not make.

Pillow accepts two kinds of incomplete photo without an error: a PNG whose image data stops
at a row boundary (the missing rows come out black), and a one-scan JPEG cut short and closed
with an end marker (libjpeg fills the rest with grey and only warns). `vision.io` refuses both
with these helpers; a progressive JPEG cut the same way is still accepted (no sound rule).
"""

from __future__ import annotations

import re
import struct
import zlib

from shanyraq.errors import CorruptImageError

# PNG: samples per pixel by colour type; the Adam7 passes as (x0, dx, y0, dy).
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = ((0, 8, 0, 8), (4, 8, 0, 8), (0, 4, 4, 8), (2, 4, 0, 4),
          (0, 2, 2, 4), (1, 2, 0, 2), (0, 1, 1, 2))  # fmt: skip
_INFLATE_PIECE = 1 << 20  # bytes inflated (and dropped) at a time while counting
_DEFLATE_PIECE = 1 << 16  # compressed bytes handed to the inflater at a time (any chunk size)
# JPEG: frames decoded in one scan when the first scan holds every component (baseline and
# extended sequential, Huffman coded); any other frame type has no such single scan.
_SOF_ONE_SCAN = {0xC0, 0xC1}
_SOF_OTHER = set(range(0xC2, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG and DAC are no frames
# The next marker with a length, as libjpeg finds it: bytes between segments that are no marker
# (an encoder's padding, FF 00, fill bytes FF FF) are skipped, as are TEM and RST0-7.
_SEGMENT_MARKER = re.compile(rb"\xff([^\x00\x01\xd0-\xd7\xff])")
# What libjpeg invents where a scan hits a marker before its end (zero bits, with a warning
# Pillow drops): more than it reads ahead (8 bytes), so a whole scan is never short of data;
# a scan short by only what these bits can fill (the last block or so) still passes.
JPEG_ZERO_BITS = bytes(16)
# A scan with no end marker that ends in more zero bytes than this (a filesystem block) was
# cut and zero-filled (an interrupted copy into a file of the photo's size): libjpeg decodes
# the zeros as blocks of noise, never an error. A whole scan ends so only where a flat area of
# a million or so pixels, coded with optimized tables, ends it byte-aligned: such a picture
# that also lost its end marker is refused (it cannot be told from a zero-filled one).
_ZERO_FILL = 4096
_PIECE = 1 << 16  # bytes looked at a time for that run


def incomplete(fmt: str, where: str) -> CorruptImageError:
    return CorruptImageError(
        f"the {fmt.upper()} data is incomplete (the file stops {where} through the picture); "
        "upload the photo again"
    )


def jpeg_scan_end(data: bytes) -> int | None:
    """Where a one-scan JPEG's scan data ends (its closing EOI, or the end of the file); else None.

    A one-scan JPEG (baseline, as cameras write it) is whole once its scan is decoded; any
    other (progressive, one scan per component, arithmetic coded, odd markers before the scan)
    gets None and is decoded as it is. Segments are followed by their lengths, and stray bytes
    between them skipped, as libjpeg follows and skips them. Within scan data 0xFF is only ever
    followed by 0x00 or a restart marker, so the first FF D9 after the scan's start closes the
    scan, or comes after the marker that did (which then stays, and is read as before). With no
    FF D9 after the scan the file's end ends it: a whole scan whose EOI was left off then
    decodes, a short one still runs out; a scan that then ends in a run of zero bytes (a file
    cut and zero-filled) ends where that run begins, and runs out there.
    """
    components, pos = 0, 2
    while (found := _SEGMENT_MARKER.search(data, pos)) is not None:
        pos, marker = found.start(), found.group(1)[0]
        if pos + 4 >= len(data):
            return None
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2 or marker in _SOF_OTHER or marker in (0xD8, 0xD9):
            return None
        if marker in _SOF_ONE_SCAN and pos + 9 < len(data):
            components = data[pos + 9]
        if marker == 0xDA:  # SOS
            if components == 0 or data[pos + 4] != components:
                return None
            start, end = pos + 2 + length, data.find(b"\xff\xd9", pos + 2 + length)
            end = _zero_fill_start(data, start) if end < 0 else end
            while end > start and data[end - 1] == 0xFF:  # fill bytes go with the marker
                end -= 1
            return end if end >= start else None
        pos += 2 + length
    return None


def _zero_fill_start(data: bytes, start: int) -> int:
    """The end of the file, or where a trailing run of over `_ZERO_FILL` zero bytes begins
    (after `start`; one zero kept after an FF, whose stuffing byte it is)."""
    end = len(data)
    while end > start:
        piece = data[max(start, end - _PIECE) : end]
        kept = len(piece.rstrip(b"\x00"))
        end -= len(piece) - kept
        if kept:
            break
    if len(data) - end <= _ZERO_FILL:
        return len(data)
    return end + 1 if end > start and data[end - 1] == 0xFF else end


def _png_data_size(width: int, height: int, depth: int, colour: int, interlace: int) -> int:
    """The bytes a PNG's image data inflates to: every row of every pass, with its filter byte."""
    bits = _PNG_CHANNELS[colour] * depth
    total = 0
    for x0, dx, y0, dy in _ADAM7 if interlace else ((0, 1, 0, 1),):
        columns, rows = -((x0 - width) // dx), -((y0 - height) // dy)  # ceil((width - x0) / dx)
        if columns > 0 and rows > 0:
            total += rows * (1 + (columns * bits + 7) // 8)
    return total


def _png_inflated_size(data: bytes, limit: int) -> int:
    """How many bytes (up to `limit`) the default image's IDAT chunks inflate to.

    Inflated a piece at a time and dropped, so memory stays small; bytes past `limit` are not
    counted (extra data after the last row leaves the image whole, and Pillow ignores it).
    """
    view, inflater = memoryview(data), zlib.decompressobj()
    total, pos, in_idat = 0, 8, False
    while pos + 8 <= len(data) and total < limit and not inflater.eof:
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"IDAT":
            # Bounded input pieces: the unconsumed tail the inflater copies is never more than
            # one piece, however large the chunk (a whole-chunk tail peaked at twice its size).
            body = view[pos + 8 : pos + 8 + length]
            for start in range(0, len(body), _DEFLATE_PIECE):
                pending: bytes | memoryview = body[start : start + _DEFLATE_PIECE]
                while pending and total < limit:
                    total += len(inflater.decompress(pending, min(_INFLATE_PIECE, limit - total)))
                    pending = inflater.unconsumed_tail
                if total >= limit or inflater.eof:
                    break
            in_idat = True
        elif in_idat:  # the IDAT chunks are consecutive: the default image's data ends here
            break
        pos += 12 + length
    return total


def check_png_rows(data: bytes) -> None:
    """Refuse a PNG whose image data stops before its last row: Pillow fills the rest black.

    The header (IHDR) must be the first chunk, as the PNG spec requires and libpng (OpenCV)
    insists; Pillow reads on, but any chunk ahead of it would leave these rows uncounted.
    """
    if data[12:16] != b"IHDR":
        first = data[12:16].decode("latin-1")
        raise CorruptImageError(
            f"the PNG data is damaged (its first chunk is {first!r}, not the header IHDR); "
            "upload the photo again"
        )
    if len(data) < 29:
        return  # Pillow read it its own way; nothing to count against
    width, height, depth, colour, _, _, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    if colour not in _PNG_CHANNELS or interlace not in (0, 1):
        return
    expected = _png_data_size(width, height, depth, colour, interlace)
    try:
        found = _png_inflated_size(data, expected)
    except zlib.error as exc:
        raise CorruptImageError(
            f"the PNG data is damaged ({exc}); upload the photo again"
        ) from None
    if found < expected:
        raise incomplete("png", f"{found * 100 // expected}% of the way")
