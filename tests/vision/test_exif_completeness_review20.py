"""Review 20: EXIF blocks larger than any camera writes, JPEGs cut and zero-filled, and the
eight orientations checked pixel by pixel.

- A PNG eXIf chunk (or "Raw profile type exif" text) and a WebP EXIF chunk have no size bound,
  unlike a JPEG's APP1 segment (64 KiB): Pillow parsed whatever was there, and a crafted block
  of 65,535 entries under 1 MB took tens of seconds of CPU per upload. A block over
  `MAX_EXIF_BYTES` is now left unread, as an unreadable one: pixels as stored.
- A one-scan JPEG cut short and zero-filled to its full size (an interrupted copy into a file of
  the photo's size) has no end marker and ends in a run of zero bytes; libjpeg decodes the zeros
  as blocks of noise without an error, so it was accepted. The scan now ends where that run
  begins, and the file is refused as incomplete.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from tests.vision.io_helpers import (
    jpeg_bytes,
    jpeg_segments,
    noise_pixels,
    pillow_pixels,
    png_chunk,
    refused_message,
)
from vision.completeness import jpeg_scan_end
from vision.io import decode_image
from vision.io_exif import MAX_EXIF_BYTES

LIMIT = 50_000_000
ORIENTATION, MAKER_NOTE = 0x0112, 0x927C


def _array(width: int = 6, height: int = 4) -> np.ndarray:
    """Every pixel different, so any wrong flip or turn shows."""
    values = np.arange(width * height * 3, dtype=np.uint8).reshape(height, width, 3)
    return values * 5 % 251


def _exif_block(orientation: int, size: int) -> bytes:
    """A little-endian TIFF block of `size` bytes: Orientation, and a MakerNote filling the rest."""
    head = 8 + 2 + 2 * 12 + 4
    entries = struct.pack("<HHLL", ORIENTATION, 3, 1, orientation) + struct.pack(
        "<HHLL", MAKER_NOTE, 7, size - head, head
    )
    block = b"II*\x00" + struct.pack("<L", 8) + struct.pack("<H", 2) + entries + bytes(4)
    return block + bytes(size - head)


def _png(array: np.ndarray, block: bytes, *, where: str) -> bytes:
    buffer = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    if where == "raw-profile-text":
        digits = block.hex()
        lines = "\n".join(digits[i : i + 72] for i in range(0, len(digits), 72))
        info.add_text("Raw profile type exif", f"\nexif\n{len(block):8d}\n{lines}\n", zip=True)
    Image.fromarray(array).save(buffer, format="PNG", pnginfo=info)
    data = buffer.getvalue()
    if where == "eXIf-before-pixels":
        return data[:33] + png_chunk(b"eXIf", block) + data[33:]
    if where == "eXIf-after-pixels":
        return data[:-12] + png_chunk(b"eXIf", block) + data[-12:]
    return data


def _webp(array: np.ndarray, block: bytes) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="WEBP", lossless=True, exif=block)
    return buffer.getvalue()


CONTAINERS = ["eXIf-before-pixels", "eXIf-after-pixels", "raw-profile-text", "webp"]


def _photo(container: str, array: np.ndarray, block: bytes) -> bytes:
    return _webp(array, block) if container == "webp" else _png(array, block, where=container)


# --- EXIF blocks larger than any camera writes --------------------------------------------


@pytest.mark.parametrize("container", CONTAINERS)
def test_an_exif_block_over_the_bound_is_left_unread(container, monkeypatch):
    parsed: list[int] = []
    load = Image.Exif.load

    def counting_load(self: Image.Exif, data: bytes) -> None:
        parsed.append(len(data))
        load(self, data)

    monkeypatch.setattr(Image.Exif, "load", counting_load)
    array = _array()
    data = _photo(container, array, _exif_block(6, MAX_EXIF_BYTES + 4096))
    decoded = decode_image(data, max_pixels=LIMIT)
    assert not [size for size in parsed if size > MAX_EXIF_BYTES]  # never handed to Pillow
    assert not decoded.metadata.orientation_readable and decoded.metadata.orientation == 1
    np.testing.assert_array_equal(decoded.pixels, array)  # as stored, not turned
    assert decoded.display_size == decoded.size == (6, 4)


@pytest.mark.parametrize("container", CONTAINERS)
def test_an_exif_block_within_the_bound_is_still_read(container):
    array = _array()
    decoded = decode_image(_photo(container, array, _exif_block(6, 60_000)), max_pixels=LIMIT)
    assert decoded.metadata.orientation == 6 and decoded.metadata.orientation_readable
    np.testing.assert_array_equal(decoded.pixels, np.rot90(array, -1))


def test_a_camera_sized_exif_block_in_a_jpeg_is_read():
    # A JPEG's APP1 segment holds the largest block a camera writes; every such block is read.
    block = _exif_block(8, 65_000)
    decoded = decode_image(
        jpeg_bytes(noise_pixels(64, 48), exif=b"Exif\x00\x00" + block), max_pixels=LIMIT
    )
    assert decoded.metadata.orientation == 8 and decoded.size == (48, 64)


# --- the eight orientations, pixel by pixel -----------------------------------------------

# What the EXIF specification says each orientation's stored pixels need to stand upright.
UPRIGHT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored left to right
    3: lambda a: a[::-1, ::-1],  # turned half way
    4: lambda a: a[::-1, :],  # mirrored top to bottom
    5: lambda a: a.transpose(1, 0, 2),  # row 0 is the left side, column 0 the top
    6: lambda a: np.rot90(a, -1),  # row 0 is the right side: a quarter turn clockwise
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],  # row 0 the right side, column 0 the bottom
    8: lambda a: np.rot90(a, 1),  # row 0 is the left side: a quarter turn anticlockwise
}


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("container", ["eXIf-before-pixels", "webp"])
def test_each_orientation_stands_the_pixels_upright_once(orientation, container):
    array = _array()
    decoded = decode_image(_photo(container, array, _exif_block(orientation, 64)), max_pixels=LIMIT)
    np.testing.assert_array_equal(decoded.pixels, UPRIGHT[orientation](array))
    assert decoded.display_size == decoded.size


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_tensor_path_turns_each_orientation_as_the_specification_says(orientation):
    torch = pytest.importorskip("torch")
    from vision.tensor_preprocess import orient_tensor

    array = _array()
    chw = torch.from_numpy(array.transpose(2, 0, 1).copy())
    turned = orient_tensor(chw, orientation).numpy().transpose(1, 2, 0)
    np.testing.assert_array_equal(turned, UPRIGHT[orientation](array))


# --- JPEGs cut and zero-filled ------------------------------------------------------------


@pytest.mark.parametrize(
    "save", [{}, {"optimize": True}, {"restart_marker_rows": 1}, {"subsampling": 0}]
)
@pytest.mark.parametrize("kept", [0.3, 0.8, 0.95])
def test_a_jpeg_cut_and_zero_filled_to_its_size_is_refused(save, kept):
    data = jpeg_bytes(noise_pixels(400, 300), **save)
    cut = int(len(data) * kept)
    message = refused_message(data[:cut] + bytes(len(data) - cut))
    assert "incomplete" in message


def test_a_whole_jpeg_padded_with_zeros_after_its_end_marker_decodes_whole():
    data = jpeg_bytes(noise_pixels(200, 150))
    decoded = decode_image(data + bytes(20_000), max_pixels=LIMIT)
    np.testing.assert_array_equal(decoded.pixels, pillow_pixels(data))


def test_a_whole_scan_that_lost_its_end_marker_to_zero_fill_decodes_whole():
    data = jpeg_bytes(noise_pixels(200, 150))
    decoded = decode_image(data[:-2] + bytes(20_000), max_pixels=LIMIT)
    np.testing.assert_array_equal(decoded.pixels, pillow_pixels(data))


def test_a_zero_fill_keeps_the_stuffing_byte_of_a_last_ff():
    data = jpeg_bytes(noise_pixels(16, 16))
    head = data[: jpeg_segments(data)["SOS"][1]]  # up to the scan data
    scan = b"\x12\x34\xff\x00"
    assert jpeg_scan_end(head + scan + bytes(10_000)) == len(head) + len(scan)
    # A short run of zeros may be the scan's own last bits: the file's end still ends it.
    assert jpeg_scan_end(head + scan + bytes(100)) == len(head) + len(scan) + 100
