"""Reuse check on photos too small or thin to verify on pixels: an answer (201), never a 500."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("height", "width", "reused"),
    [
        (1, 1, False),  # one colour: a blank frame's hash, which matches nothing on its own
        (1, 20, False),  # a 1-pixel strip: no structure across it, the same
        (15, 300, True),  # a strip with structure: pixels cannot verify it, the hash decides
    ],
)
def test_tiny_or_thin_photo_for_a_second_family_is_answered(service, height, width, reused):
    pixels = np.random.default_rng(0).integers(0, 250, (height, width, 3), dtype=np.uint8)
    service.create_family("F1")
    service.create_family("F2")
    first = service.upload("F1", _png(pixels))
    assert first.status_code == 201, first.text
    second = service.upload("F2", _png(pixels + 2))  # a re-lit copy: other bytes, same hash
    assert second.status_code == 201, second.text
    assert second.json()["quality"]["status"] == "fail"  # too small to assess, as before
    assert second.json()["reuse"]["reused"] is reused


@pytest.mark.parametrize(("height", "width"), [(1, 300), (3, 5000)])
def test_a_strip_longer_than_the_aspect_limit_is_refused_and_nothing_stored(service, height, width):
    """vision.io.MAX_ASPECT: its resize would not be bounded; a clear 422, no photo row."""
    pixels = np.random.default_rng(0).integers(0, 250, (height, width, 3), dtype=np.uint8)
    service.create_family("F1")
    refused = service.upload("F1", _png(pixels))
    assert refused.status_code == 422 and refused.json()["code"] == "image_shape", refused.text
    listed = service.client.get("/families/F1/photos", headers=service.headers("inspector"))
    assert listed.json() == []
