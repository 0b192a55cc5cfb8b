"""Review 19: an AVIF whose header lies about its size (vision.io_avif, via vision.io_checks).

The review found that the size judged against io.max_pixels was the one an AVIF's `ispe` box
states, while libavif decodes the AV1 data at the size its sequence header gives and scales the
result down: a file stating 64x64 over an 8192x8192 picture cost 67 MP of decoding. The AV1
size is now read from the sequence headers of every picture libavif may decode, before it runs.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from shanyraq.errors import CorruptImageError, ImageTooLargeError
from vision.io import avif_supported, decode_image
from vision.io_avif import check_avif_coded_size

LIMIT = 50_000_000

pytestmark = pytest.mark.skipif(
    not avif_supported(), reason="this Pillow has no AVIF support (built without libavif)"
)


def _pixels(width: int, height: int, seed: int = 19) -> np.ndarray:
    rng = np.random.default_rng(seed)
    gradient = np.linspace(0, 255, width)[None, :, None]
    return np.clip(gradient + rng.integers(0, 40, (height, width, 3)), 0, 255).astype(np.uint8)


def _avif(width: int, height: int, **save: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_pixels(width, height)).save(buffer, format="AVIF", speed=10, **save)
    return buffer.getvalue()


def _animated(width: int, height: int, frames: int = 3) -> bytes:
    images = [Image.fromarray(_pixels(width, height, seed)) for seed in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="AVIF", save_all=True, append_images=images[1:], speed=10)
    return buffer.getvalue()


def _stating(data: bytes, width: int, height: int, box: bytes = b"ispe") -> bytes:
    """`data` with every `ispe` (or `tkhd`) box stating `width` x `height`."""
    out, start = bytearray(data), 0
    while (at := out.find(box, start)) != -1:
        if box == b"ispe":
            out[at + 8 : at + 16] = struct.pack(">II", width, height)
        else:  # tkhd version 1: the size (16.16) is the last 8 bytes of its 104
            end = at - 4 + int.from_bytes(out[at - 4 : at], "big")
            out[end - 8 : end] = struct.pack(">II", width << 16, height << 16)
        start = at + 4
    return bytes(out)


@pytest.fixture
def no_decoder(monkeypatch):
    """Fails the test if any AVIF reaches a decoder (Pillow's header parser included)."""
    import PIL.AvifImagePlugin

    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)  # recorded: open_header turns any codec error into a refusal
        raise AssertionError("the AVIF was handed to libavif")

    monkeypatch.setattr(PIL.AvifImagePlugin._avif, "AvifDecoder", refuse)
    monkeypatch.setattr("vision.io_checks._open_unchecked", refuse)
    yield
    assert not calls, "the AVIF was handed to a decoder"


# --- the review's case: ispe states less than the AV1 data holds --------------------------


def test_an_avif_stating_a_small_size_over_a_large_picture_is_refused_undecoded(no_decoder):
    lying = _stating(_avif(256, 256), 16, 16)
    with pytest.raises(ImageTooLargeError, match="256x256"):
        decode_image(lying, max_pixels=10_000)


def test_the_reviews_8192_case_is_refused_before_decoding(no_decoder):
    """AV1 data of 8192x8192 stating 64x64, at the configured limit. The sequence header of a
    small file is swapped for an 8192x8192 one (encoding 67 MP would take a test too long)."""
    data = _stating(_avif(64, 64), 64, 64)
    start = _sequence_header_at(data)
    lying = _splice(data, start, start + 2 + data[start + 1], _obu(1, _reduced(8192, 8192)))
    with pytest.raises(ImageTooLargeError, match=r"8192x8192 \(67.1 MP\), over the limit of 50"):
        decode_image(lying, max_pixels=LIMIT)


def test_a_picture_larger_than_stated_but_within_the_limit_is_refused_as_damaged(no_decoder):
    with pytest.raises(CorruptImageError, match=r"says its image is 16x16.*AV1 data is 64x48"):
        decode_image(_stating(_avif(64, 48), 16, 16), max_pixels=LIMIT)


def test_every_sequence_header_is_judged_not_only_the_first(no_decoder):
    """A large sequence header put before the true one, in the item's data."""
    data = _avif(64, 48)
    start = _sequence_header_at(data)
    patched = _splice(data, start, start, _obu(1, _reduced(10_000, 8_000)))
    with pytest.raises(ImageTooLargeError, match="10000x8000"):
        decode_image(patched, max_pixels=LIMIT)


# --- true files still decode ----------------------------------------------------------------


def test_a_true_small_avif_decodes():
    decoded = decode_image(_avif(64, 48), max_pixels=LIMIT)
    assert decoded.size == (64, 48) and decoded.format == "avif"


def test_a_true_avif_at_the_limit_decodes_and_one_pixel_more_is_refused():
    data = _avif(96, 64)
    assert decode_image(data, max_pixels=96 * 64).size == (96, 64)
    with pytest.raises(ImageTooLargeError):
        decode_image(data, max_pixels=96 * 64 - 1)


def test_an_avif_with_alpha_decodes():
    buffer = io.BytesIO()
    Image.new("RGBA", (64, 48), (200, 10, 10, 128)).save(buffer, format="AVIF", speed=10)
    assert decode_image(buffer.getvalue(), max_pixels=LIMIT).size == (64, 48)


def test_a_true_animated_avif_decodes():
    data = _animated(64, 48)
    assert data[8:12] == b"avis" and b"moov" in data  # libavif decodes the track, not the item
    assert decode_image(data, max_pixels=LIMIT).size == (64, 48)


def test_a_track_stating_a_small_size_over_a_large_picture_is_refused(no_decoder):
    lying = _stating(_stating(_animated(256, 256), 16, 16), 16, 16, box=b"tkhd")
    with pytest.raises(ImageTooLargeError, match="256x256"):
        decode_image(lying, max_pixels=10_000)
    with pytest.raises(CorruptImageError, match="says its image is 16x16"):
        decode_image(lying, max_pixels=LIMIT)


# --- grids: every tile is decoded ----------------------------------------------------------


def test_a_true_grid_decodes():
    data = _grid(_avif(64, 64), columns=2, rows=2, output=(128, 120))  # MIAF: tiles >= 64x64
    decoded = decode_image(data, max_pixels=LIMIT)
    assert decoded.size == (128, 120)
    # The four tiles are the same picture: the left and right halves match.
    assert np.abs(decoded.pixels[:, :64].astype(int) - decoded.pixels[:, 64:]).mean() < 2


def test_a_grid_whose_tiles_hold_far_more_than_it_states_is_refused(no_decoder):
    """Each tile states its true size, and the grid is one libavif decodes (its tiles cover
    the canvas, the last overhanging it by less than a tile), but the grid states 128x16 over
    two 64x64 tiles: libavif decodes four times the stated size and crops it."""
    data = _grid(_avif(64, 64), columns=2, rows=1, output=(128, 16))
    with pytest.raises(ImageTooLargeError, match="grid of 2 tiles"):
        decode_image(data, max_pixels=5_000)


def test_a_grid_of_tiles_larger_than_they_state_is_refused(no_decoder):
    data = _grid(_avif(64, 64), columns=2, rows=2, output=(128, 128), tile_says=(64, 16))
    with pytest.raises(CorruptImageError, match="says its image is 64x16"):
        decode_image(data, max_pixels=LIMIT)


# --- damaged or hostile containers: a clear refusal, never a decoder -----------------------


def _patched(data: bytes, kind: bytes, at: int, value: bytes) -> bytes:
    """`data` with `value` written `at` bytes into the first `kind` box (its size: at -4)."""
    start = data.find(kind) + 4 + at
    return data[:start] + value + data[start + len(value) :]


_DAMAGES = {  # id: (damage, the reason the refusal gives)
    "cut-in-meta": (lambda d: d[: d.find(b"iprp")], "no AV1 image"),
    "cut-in-data": (lambda d: d[:-10], "truncated"),
    "box-too-long": (lambda d: _patched(d, b"iloc", -8, b"\x40\0\0\0"), "does not fit"),
    "box-under-8": (lambda d: _patched(d, b"ispe", -8, b"\0\0\0\4"), "does not fit"),
    "iloc-count": (lambda d: _patched(d, b"iloc", 6, b"\0\5"), "shorter than its fields"),
    "data-past-end": (lambda d: _patched(d, b"iloc", 14, b"\x7f\0\0\0"), "truncated"),
    "no-item-list": (lambda d: d.replace(b"iinf", b"xxxx"), "no 'iinf' box"),
    "no-av1-item": (lambda d: d.replace(b"av01", b"hvc1"), "no AV1 image"),
}


@pytest.mark.parametrize(("damage", "reason"), _DAMAGES.values(), ids=_DAMAGES.keys())
def test_a_damaged_container_is_refused_as_corrupt(damage, reason, no_decoder):
    with pytest.raises(CorruptImageError, match="AVIF header cannot be read") as info:
        decode_image(damage(_avif(64, 48)), max_pixels=LIMIT)
    assert reason in info.value.message


def test_the_damage_helpers_leave_a_true_file_readable():
    check_avif_coded_size(_patched(_avif(64, 48), b"iloc", 6, b"\0\1"), LIMIT)  # the true count


def test_item_data_without_a_sequence_header_is_refused(no_decoder):
    data = _avif(64, 48)
    start = _sequence_header_at(data)
    padding = bytes([(15 << 3) | 0b010])  # the same OBU, as padding (type 15)
    with pytest.raises(CorruptImageError, match="no sequence header"):
        decode_image(data[:start] + padding + data[start + 1 :], max_pixels=LIMIT)


def test_a_sequence_header_cut_short_is_refused(no_decoder):
    data = _avif(64, 48)
    start = _sequence_header_at(data)
    cut = _splice(data, start, start, _obu(1, _reduced(64, 48)[:2]))
    with pytest.raises(CorruptImageError, match="sequence header is cut short"):
        decode_image(cut, max_pixels=LIMIT)


@pytest.mark.parametrize("boxes", [60_000, 200_000])
def test_a_flood_of_boxes_is_refused_at_the_cap(boxes, no_decoder):
    data = _avif(64, 48)
    meta = data.find(b"meta") - 4
    flood = b"\0\0\0\x08free" * boxes
    size = int.from_bytes(data[meta : meta + 4], "big")
    patched = data[:meta] + struct.pack(">I", size + len(flood)) + data[meta + 4 : meta + 12]
    patched += flood + data[meta + 12 :]
    with pytest.raises(CorruptImageError, match="more than 50000 boxes"):
        decode_image(patched, max_pixels=LIMIT)


def test_a_flood_of_obus_is_refused_at_the_cap(no_decoder):
    data = _avif(64, 48)
    start = _sequence_header_at(data)
    flood = bytes([(15 << 3) | 0b010, 0]) * 60_000  # empty padding OBUs
    with pytest.raises(CorruptImageError, match="more than 50000"):
        decode_image(_splice(data, start, start, flood), max_pixels=LIMIT)


# --- helpers that make AV1 and ISOBMFF by hand ----------------------------------------------


def _obu(obu_type: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([(obu_type << 3) | 0b010, len(payload)]) + payload


def _reduced(width: int, height: int) -> bytes:
    """A still picture's sequence header (AV1 spec 5.5), up to its frame size."""
    bits = "000" + "1" + "1" + "01000" + "1111" + "1111"  # profile, still, reduced, level
    bits += format(width - 1, "016b") + format(height - 1, "016b")
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def _sequence_header_at(data: bytes) -> int:
    """Where the sequence header OBU of a one-picture Pillow AVIF is: after the temporal
    delimiter that starts its item's data, the mdat box's payload."""
    start = data.rfind(b"mdat") + 4
    assert data[start : start + 2] == b"\x12\x00" and (data[start + 2] >> 3) & 15 == 1
    return start + 2


def _splice(data: bytes, start: int, stop: int, new: bytes) -> bytes:
    """`data` with its bytes `start:stop` (in the item's data, the last box) replaced by `new`;
    the mdat box and the item's one extent (iloc version 0, 4-byte lengths) grow to match."""
    grown = len(new) - (stop - start)
    mdat, length_at = data.rfind(b"mdat") - 4, data.find(b"iloc") + 4 + 18
    out = bytearray(data[:start] + new + data[stop:])
    for at in (mdat, length_at):
        out[at : at + 4] = struct.pack(">I", int.from_bytes(data[at : at + 4], "big") + grown)
    return bytes(out)


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I", 8 + len(body)) + kind + body


def _full(kind: bytes, *parts: bytes, version: int = 0) -> bytes:
    return _box(kind, bytes([version, 0, 0, 0]), *parts)


def _found(data: bytes, kind: bytes) -> bytes:
    """The first `kind` box of `data`, whole."""
    at = data.find(kind) - 4
    return data[at : at + int.from_bytes(data[at : at + 4], "big")]


def _grid(
    tile: bytes,
    *,
    columns: int,
    rows: int,
    output: tuple[int, int],
    tile_says: tuple[int, int] | None = None,
) -> bytes:
    """A grid AVIF (HEIF 6.6.2.3) whose every tile is `tile`'s one AV1 picture."""
    tile_data = _found(tile, b"mdat")[8:]
    tile_ispe = _found(tile, b"ispe")
    if tile_says is not None:
        tile_ispe = _full(b"ispe", struct.pack(">II", *tile_says))
    count = columns * rows
    ids = range(2, 2 + count)
    descriptor = bytes([0, 0, rows - 1, columns - 1]) + struct.pack(">HH", *output)
    properties = [
        _full(b"ispe", struct.pack(">II", *output)),
        _found(tile, b"pixi"),
        tile_ispe,
        _found(tile, b"av1C"),
    ]
    associations = struct.pack(">HB", 1, 2) + bytes([0x81, 0x02])  # the grid: ispe, pixi
    for item in ids:  # each tile: its ispe, pixi and (essential) av1C
        associations += struct.pack(">HB", item, 3) + bytes([0x03, 0x02, 0x84])

    def meta(mdat_at: int) -> bytes:
        infe = [_full(b"infe", struct.pack(">HH", 1, 0), b"grid\0", version=2)]
        infe += [_full(b"infe", struct.pack(">HH", i, 0), b"av01\0", version=2) for i in ids]
        locations = struct.pack(">HHHHII", 1, 1, 0, 1, 0, len(descriptor))  # in idat
        for index, item in enumerate(ids):
            offset = mdat_at + 8 + index * len(tile_data)
            locations += struct.pack(">HHHHII", item, 0, 0, 1, offset, len(tile_data))
        tiles = b"".join(struct.pack(">H", i) for i in ids)
        ipma = _full(b"ipma", struct.pack(">I", 1 + count), associations)
        return _full(
            b"meta",
            _full(b"hdlr", b"\0\0\0\0pict" + b"\0" * 13),
            _full(b"pitm", struct.pack(">H", 1)),
            _full(b"iloc", bytes([0x44, 0x00]), struct.pack(">H", 1 + count), locations, version=1),
            _full(b"iinf", struct.pack(">H", 1 + count), *infe),
            _full(b"iref", _box(b"dimg", struct.pack(">HH", 1, count), tiles)),
            _box(b"iprp", _box(b"ipco", *properties), ipma),
            _box(b"idat", descriptor),
        )

    ftyp = _box(b"ftyp", b"avif", b"\0\0\0\0", b"avifmif1miaf")
    mdat_at = len(ftyp) + len(meta(0))
    return ftyp + meta(mdat_at) + _box(b"mdat", tile_data * count)
