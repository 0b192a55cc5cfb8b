"""Review 26 of vision.io: every kind of transparency comes out the same way.

A PNG can make pixels transparent three ways: an alpha channel (RGBA, grey with alpha), a
palette's alpha (tRNS in a palette photo), or a colour key (tRNS in a grey or RGB photo: every
pixel of that one grey level or colour is transparent). The first two were composited over white;
a colour key was dropped, so its pixels kept their colour where a viewer shows them white. Now
all three give the same pixels, with the key matched as the file stores it (2- and 4-bit grey
keys scaled as their samples are, 16-bit grey on all 16 bits, 16-bit RGB on the 8 bits kept).
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from tests.vision.io_helpers import png_chunk
from vision.io import decode_image

LIMIT = 50_000_000
WHITE = (255, 255, 255)
WIDTH, HEIGHT = 12, 8


def _saved(image: Image.Image, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **save)
    return buffer.getvalue()


def _written(depth: int, colour: int, rows: list[bytes], trns: bytes) -> bytes:
    """A WIDTH-wide PNG written chunk by chunk: kinds Pillow does not save (2-bit grey, 16-bit
    RGB). `colour`: the PNG colour type (0 grey, 2 RGB)."""
    header = struct.pack(">IIBBBBB", WIDTH, len(rows), depth, colour, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\0" + row for row in rows))
    chunks = [(b"IHDR", header), (b"tRNS", trns), (b"IDAT", pixels), (b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(png_chunk(kind, body) for kind, body in chunks)


def _top_half_transparent() -> dict[str, tuple[bytes, np.ndarray]]:
    """The same picture, its top half transparent, made so each way a PNG can: each with the
    pixels a viewer shows (top half white, the rest as stored)."""
    green = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    green[:] = (10, 120, 10)
    key = (200, 30, 40)
    keyed = green.copy()
    keyed[: HEIGHT // 2] = key
    alpha = np.full((HEIGHT, WIDTH), 255, np.uint8)
    alpha[: HEIGHT // 2] = 0
    shown = green.copy()
    shown[: HEIGHT // 2] = WHITE
    grey = np.full((HEIGHT, WIDTH), 90, np.uint8)
    grey[: HEIGHT // 2] = 17
    grey_shown = np.repeat(np.where(grey == 17, 255, 90).astype(np.uint8)[..., None], 3, axis=2)
    palette = Image.fromarray(keyed).quantize(2)
    keyed_index = int(np.asarray(palette)[0, 0])
    grey16 = np.full((HEIGHT, WIDTH), 90 * 257, np.uint16)
    grey16[: HEIGHT // 2] = 17 * 257
    one_bit = np.ones((HEIGHT, WIDTH), bool)
    one_bit[: HEIGHT // 2] = False
    one_bit_shown = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)  # black keyed, white stays
    two_bit = [bytes([0b00000000] * (WIDTH // 4))] * (HEIGHT // 2)  # sample 0: keyed
    two_bit += [bytes([0b10101010] * (WIDTH // 4))] * (HEIGHT // 2)  # sample 2: 170
    two_bit_shown = np.full((HEIGHT, WIDTH, 3), 170, np.uint8)
    two_bit_shown[: HEIGHT // 2] = WHITE
    rgb16_key = struct.pack(">3H", 0x1234, 0x5678, 0x9ABC)
    rgb16 = [rgb16_key * WIDTH] * (HEIGHT // 2)
    rgb16 += [struct.pack(">3H", 0x0A00, 0x7800, 0x0A00) * WIDTH] * (HEIGHT // 2)
    rgb16_shown = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    rgb16_shown[:] = (0x0A, 0x78, 0x0A)
    rgb16_shown[: HEIGHT // 2] = WHITE
    return {
        "alpha RGBA": (_saved(Image.fromarray(np.dstack([green, alpha]))), shown),
        "alpha grey": (_saved(Image.fromarray(np.dstack([grey, alpha]))), grey_shown),
        "palette tRNS": (_saved(palette, transparency=keyed_index), shown),
        "RGB colour key": (_saved(Image.fromarray(keyed), transparency=key), shown),
        "grey key": (_saved(Image.fromarray(grey), transparency=17), grey_shown),
        "1-bit grey key": (_saved(Image.fromarray(one_bit), transparency=0), one_bit_shown),
        "2-bit grey key": (_written(2, 0, two_bit, struct.pack(">H", 0)), two_bit_shown),
        "16-bit grey key": (_saved(Image.fromarray(grey16), transparency=17 * 257), grey_shown),
        "16-bit RGB key": (_written(16, 2, rgb16, rgb16_key), rgb16_shown),
    }


CASES = _top_half_transparent()


@pytest.mark.parametrize("kind", list(CASES))
def test_every_kind_of_transparency_is_white(kind):
    data, shown = CASES[kind]
    pixels = decode_image(data, max_pixels=LIMIT).pixels
    np.testing.assert_array_equal(pixels, shown)


def test_a_keyed_photo_comes_out_as_the_same_photo_with_an_alpha_channel():
    keyed, _ = CASES["RGB colour key"]
    alpha, _ = CASES["alpha RGBA"]
    np.testing.assert_array_equal(
        decode_image(keyed, max_pixels=LIMIT).pixels, decode_image(alpha, max_pixels=LIMIT).pixels
    )


def test_only_the_keyed_colour_is_transparent():
    # One level off in one channel is another colour: it stays as stored.
    array = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    array[:] = (200, 30, 40)
    array[:, WIDTH // 2 :] = (200, 30, 41)
    pixels = decode_image(
        _saved(Image.fromarray(array), transparency=(200, 30, 40)), max_pixels=LIMIT
    ).pixels
    assert (pixels[:, : WIDTH // 2] == WHITE).all()
    assert (pixels[:, WIDTH // 2 :] == (200, 30, 41)).all()


def test_a_16_bit_grey_key_is_matched_on_all_16_bits():
    # 17 * 257 + 1 decodes to the same 8-bit grey as the key, but is not the key.
    grey16 = np.full((HEIGHT, WIDTH), 17 * 257 + 1, np.uint16)
    grey16[: HEIGHT // 2] = 17 * 257
    pixels = decode_image(
        _saved(Image.fromarray(grey16), transparency=17 * 257), max_pixels=LIMIT
    ).pixels
    assert (pixels[: HEIGHT // 2] == WHITE).all()
    assert (pixels[HEIGHT // 2 :] == 17).all()


def test_a_key_no_pixel_has_leaves_the_photo_as_stored():
    array = np.arange(HEIGHT * WIDTH * 3, dtype=np.uint8).reshape(HEIGHT, WIDTH, 3)
    keyed = decode_image(_saved(Image.fromarray(array), transparency=(1, 2, 250)), max_pixels=LIMIT)
    np.testing.assert_array_equal(keyed.pixels, array)


def test_a_keyed_photo_turned_by_exif_is_keyed_where_its_colour_is():
    # The key is matched on the upright pixels: the transparent half turns with the photo.
    keyed, _ = CASES["RGB colour key"]
    image = Image.open(io.BytesIO(keyed))
    exif = Image.Exif()
    exif[0x0112] = 6  # turned a quarter: the stored top half is the upright right half
    turned = _saved(image, transparency=image.info["transparency"], exif=exif)
    decoded = decode_image(turned, max_pixels=LIMIT)
    assert decoded.size == (HEIGHT, WIDTH)
    assert (decoded.pixels[:, HEIGHT // 2 :] == WHITE).all()
    assert (decoded.pixels[:, : HEIGHT // 2] == (10, 120, 10)).all()
