"""Review 21 of vision.reuse: the verdict does not depend on which photo is asked about first."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from training.synth.photos import render_photo
from training.synth.spec import PhotoSpec
from vision.engine import load_engine_config
from vision.reuse import features, verify

CONFIG = load_engine_config().hashing.verification
# Two kitchens of one style, different homes (other cabinets, colours, floor). At 128 px (the
# welfare study's render size) matching a onto b passed the pixel test (13 of 16 blocks) and b
# onto a did not (9 of 16): the verdict depended on the argument order.
KITCHEN = PhotoSpec(room="kitchen", condition=3, signs=frozenset(), style=6)


def _jpeg_round_trip(image: np.ndarray) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def _kitchen(seed: int) -> np.ndarray:
    rendered = render_photo(KITCHEN, size=128, rng=np.random.default_rng(seed)).image
    return _jpeg_round_trip(rendered)


def test_different_homes_are_not_the_same_photo_in_either_order():
    a, b = features(_kitchen(8), CONFIG), features(_kitchen(12), CONFIG)
    forward, backward = verify(a, b, CONFIG), verify(b, a, CONFIG)
    assert forward.same_photo == backward.same_photo
    assert not forward.same_photo and forward.reason == "pixels differ after alignment"


def test_a_copy_still_passes_both_ways_at_the_small_size():
    photo = _kitchen(8)
    copy = _jpeg_round_trip(photo[4:-4, 4:-4].copy())  # cropped and re-encoded
    a, b = features(photo, CONFIG), features(copy, CONFIG)
    assert verify(a, b, CONFIG).same_photo and verify(b, a, CONFIG).same_photo
