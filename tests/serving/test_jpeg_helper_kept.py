"""tests/serving/helpers.py `jpeg` keeps the photo it made for the same arguments: the same
bytes as made anew, other arguments another photo, and arguments that cannot be kept (a list
among the save options) still made."""

from __future__ import annotations

from io import BytesIO

from PIL import Image

from tests.serving.helpers import _made_jpeg, jpeg


def test_the_same_arguments_give_the_photo_made_anew() -> None:
    first = jpeg(7, (320, 240), subsampling=0)
    assert jpeg(7, [320, 240], subsampling=0) is first  # kept: a list of sizes reads the same
    assert first == _made_jpeg(7, (320, 240), subsampling=0)


def test_other_arguments_give_another_photo() -> None:
    photos = {
        jpeg(7, (320, 240)),
        jpeg(8, (320, 240)),
        jpeg(7, (240, 320)),
        jpeg(7, (320, 240), subsampling=0),
    }
    assert len(photos) == 4


def test_options_that_cannot_be_kept_still_make_the_photo() -> None:
    photo = jpeg(7, (320, 240), dpi=[72, 72])
    with Image.open(BytesIO(photo)) as image:
        assert image.size == (320, 240)
        assert image.info["dpi"] == (72, 72)
