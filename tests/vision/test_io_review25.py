"""Review 25 of vision.io: what an inspector is told about a refused file.

1. A photo over Pillow's own bomb limit (a 108 or 200 MP phone mode) was refused as "far larger
   than any phone photo; send the photo as the camera took it", which is what the inspector
   did; it is now told its size and to send a smaller photo, as one just over our limit is.
2. A file of nothing but zero bytes (a copy that stopped before any of the photo was written)
   was called "text", and UTF-8 text cut mid-character by the 512 bytes looked at was called
   "of an unknown kind".
"""

from __future__ import annotations

import pytest
from PIL import Image

from shanyraq.errors import ImageTooLargeError, UnsupportedImageFormatError
from tests.vision.io_helpers import LIMIT, png_bomb
from vision.io import decode_image

PILLOW_LIMIT = 1024 * 1024 * 1024 // 4 // 3  # Image.MAX_IMAGE_PIXELS as Pillow ships it


@pytest.mark.parametrize(("width", "height"), [(12000, 9000), (16320, 12240)])
def test_a_phone_photo_over_pillows_limit_is_told_its_size_and_to_send_a_smaller_one(
    width, height, monkeypatch
):
    # Pillow's own limit as it ships: vision.io raises it (never lowers it) to the largest
    # limit a caller gave, so earlier tests in the same process may have left it higher.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", PILLOW_LIMIT)
    assert width * height > Image.MAX_IMAGE_PIXELS  # the header is refused on Pillow's limit
    with pytest.raises(ImageTooLargeError) as info:
        decode_image(png_bomb(width, height, rows=2), max_pixels=LIMIT)
    message = info.value.message
    assert f"{width}x{height} ({width * height / 1e6:.1f} MP)" in message
    assert "over the limit of 50 MP; send a smaller photo" in message
    assert "far larger than any phone photo" not in message


def test_a_photo_just_over_our_limit_is_still_told_the_same():
    with pytest.raises(ImageTooLargeError, match=r"9248x6936 \(64.1 MP\), over the limit of 50"):
        decode_image(png_bomb(9248, 6936, rows=2), max_pixels=LIMIT)


@pytest.mark.parametrize("size", [1, 512, 100_000])
def test_a_file_of_only_zero_bytes_is_not_called_text(size):
    with pytest.raises(UnsupportedImageFormatError) as info:
        decode_image(bytes(size), max_pixels=LIMIT)
    message = info.value.message
    assert message.startswith("this file is nothing but zero bytes"), message
    assert "text" not in message


def test_binary_data_with_zero_bytes_is_not_called_text():
    data = b"\x00\x00\x00\x18ftypmp42" + bytes(40) + b"moov" + bytes(600)  # a video's start
    with pytest.raises(UnsupportedImageFormatError, match="of an unknown kind"):
        decode_image(data, max_pixels=LIMIT)


@pytest.mark.parametrize("cut", [511, 512, 513, 514, 515])
def test_utf8_text_cut_mid_character_at_the_window_is_still_text(cut):
    text = ("a" + "Ә" * 300).encode()[:cut]  # "Ә" is two bytes: the 512th is half of one
    with pytest.raises(UnsupportedImageFormatError, match="this file is text"):
        decode_image(text, max_pixels=LIMIT)


def test_plain_text_with_line_breaks_and_tabs_is_still_text():
    with pytest.raises(UnsupportedImageFormatError, match="this file is text"):
        decode_image(b"family\tphotos\r\nnotes about the house\n", max_pixels=LIMIT)
