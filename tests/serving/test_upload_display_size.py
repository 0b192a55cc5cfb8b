"""A portrait phone photo (landscape pixels, EXIF Orientation 6) is recorded as portrait."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def _portrait_jpeg(width: int = 640, height: int = 480) -> bytes:
    rng = np.random.default_rng(5)
    base = rng.integers(40, 210, size=(height // 16, width // 16, 3), dtype=np.uint8)
    pixels = np.kron(base, np.ones((16, 16, 1), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show: stored 640 x 480, shown 480 x 640
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def test_width_and_height_are_the_photo_as_shown(service):
    service.create_family("F1")
    uploaded = service.upload("F1", _portrait_jpeg())
    assert uploaded.status_code == 201, uploaded.text
    assert (uploaded.json()["width"], uploaded.json()["height"]) == (480, 640)
    shown = service.client.get(
        f"/photos/{uploaded.json()['photo_id']}", headers=service.headers("commission")
    ).json()
    assert (shown["width"], shown["height"]) == (480, 640)
    image = service.client.get(
        f"/photos/{uploaded.json()['photo_id']}/image", headers=service.headers("commission")
    )
    assert (
        Image.open(io.BytesIO(image.content)).size[0]
        < Image.open(io.BytesIO(image.content)).size[1]
    )  # the browser copy is upright too
