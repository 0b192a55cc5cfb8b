"""The quality gate: a hazy, washed-out room is told about the light, not a
covered lens, and no photo's pass / warn / fail moves for it."""

from __future__ import annotations

import io
import math

import cv2
import numpy as np
import pytest
from PIL import Image

from benchmarks.quality_curves import BLUR_SIGMAS, GAINS, blur, gain, scenes
from tests.vision.quality_helpers import SIZES, blank_wall, wall_photo
from vision.engine import load_engine_config
from vision.io import decode_image
from vision.quality import RETAKE_HINTS, TOO_BRIGHT, UNIFORM, assess_quality

QUALITY = load_engine_config().quality
# The gate as it was: a frame under the three blank bounds is `uniform`, whatever its light.
BEFORE = QUALITY.model_copy(update={"washed_out_edge_share": math.inf})


def _haze(image: np.ndarray, contrast: float, white: float = 255.0) -> np.ndarray:
    """Haze or glare: the scene's contrast compressed by `contrast` towards `white`."""
    hazy = white - (white - image.astype(np.float32)) * contrast
    return np.clip(hazy, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def rooms() -> list[np.ndarray]:
    """training.synth rooms, 640x480 (benchmarks.quality_curves renders them)."""
    return scenes(6, seed=0, width=640)


def test_a_hazy_washed_out_room_is_told_about_the_light(rooms):
    # Before: at a fifth to a third of its contrast, mean 215-245, every room was `uniform`
    # and its inspector told the lens was covered or the camera pointed at a blank surface.
    for room in rooms:
        for contrast in (0.15, 0.2, 0.3):
            photo = _haze(room, contrast)
            verdict = assess_quality(photo, config=QUALITY)
            before = assess_quality(photo, config=BEFORE)
            if before.reasons[:1] != (UNIFORM,):
                continue  # faint enough to be judged on exposure already
            assert verdict.measurements["mean_luminance"] > QUALITY.bright_warn, verdict
            assert verdict.status == before.status == "fail", verdict
            assert verdict.reasons == (TOO_BRIGHT,), verdict.measurements
            assert verdict.retake_hint == RETAKE_HINTS[TOO_BRIGHT]


def test_the_p488_photo_as_an_uploaded_jpeg():
    """Contrast ~0.15 of the range, mean ~218, as the service decodes a 4 MP JPEG."""
    room = cv2.resize(scenes(1, seed=0)[0], SIZES["4MP"], interpolation=cv2.INTER_CUBIC)
    buffer = io.BytesIO()
    Image.fromarray(_haze(room, 0.25, white=235.0)).save(buffer, format="JPEG", quality=80)
    decoded = decode_image(buffer.getvalue(), max_pixels=50_000_000, target_size=512)
    grey = cv2.cvtColor(decoded.pixels, cv2.COLOR_RGB2GRAY)
    low, high = np.percentile(grey, [1, 99])
    assert 0.1 < (high - low) / 255 < 0.2 and 210 < grey.mean() < 225
    args = {"original_size": decoded.original_size}
    assert assess_quality(decoded.pixels, config=BEFORE, **args).reasons == (UNIFORM,)
    verdict = assess_quality(decoded.pixels, config=QUALITY, **args)
    assert verdict.status == "fail" and verdict.reasons == (TOO_BRIGHT,), verdict.measurements
    assert verdict.retake_hint == RETAKE_HINTS[TOO_BRIGHT]


BLANK_FRAMES = {
    "white wall, window light": lambda: wall_photo("linear", SIZES["1MP"], base=250, noise_sd=2),
    "white wall, ceiling light": lambda: wall_photo("radial", SIZES["0.3MP"], base=250, noise_sd=6),
    "white wall, flat": lambda: wall_photo("flat", SIZES["0.3MP"], base=245, noise_sd=4),
    # Overexposed till most of it is pure white: the unclipped rest is noise, not edges.
    "wall 65 % clipped": lambda: wall_photo("radial", SIZES["0.3MP"], base=320, noise_sd=2),
    "wall 90 % clipped": lambda: wall_photo("radial", SIZES["1MP"], base=400, noise_sd=4),
    "wall in a lamp, half clipped": lambda: wall_photo(
        "lamp", SIZES["0.3MP"], base=500, noise_sd=6
    ),
    "review 14 white wall": lambda: blank_wall(0, base=240, noise=3.0, falloff=0.1),
    "near-white wall": lambda: blank_wall(1, base=252, noise=1.0, falloff=0.0),
    "pure white": lambda: np.full((480, 640, 3), 255, np.uint8),
    "covered lens": lambda: np.full((480, 640, 3), 3, np.uint8),
    "dim wall": lambda: wall_photo("flat", SIZES["1MP"], base=40, noise_sd=2),
    "grey wall": lambda: wall_photo("radial", SIZES["1MP"], base=180, noise_sd=3),
}


@pytest.mark.parametrize("name", sorted(BLANK_FRAMES))
def test_a_blank_frame_stays_uniform_at_any_light(name):
    verdict = assess_quality(BLANK_FRAMES[name](), config=QUALITY)
    assert verdict.status == "fail" and verdict.reasons == (UNIFORM,), verdict.measurements
    assert verdict.retake_hint == RETAKE_HINTS[UNIFORM]


def test_no_photo_changes_status(rooms):
    """The welfare study and the engine read the status: only the blank reason may move."""
    photos = [blur(room, sigma) for room in rooms for sigma in BLUR_SIGMAS]
    photos += [gain(room, factor) for room in rooms for factor in GAINS]
    photos += [_haze(room, c, w) for room in rooms for c in (0.05, 0.1, 0.2, 0.3, 0.4, 0.6)
               for w in (235.0, 255.0)]  # fmt: skip
    photos += [frame() for frame in BLANK_FRAMES.values()]
    photos += [cv2.resize(_haze(rooms[0], 0.2), (200, 150), interpolation=cv2.INTER_AREA)]
    moved = 0
    for photo in photos:
        now, before = assess_quality(photo, config=QUALITY), assess_quality(photo, config=BEFORE)
        assert now.status == before.status, (now, before)
        if now.reasons != before.reasons:
            moved += 1
            assert before.reasons[0] == UNIFORM and now.reasons[0] == TOO_BRIGHT, (now, before)
            assert now.reasons[1:] == before.reasons[1:]  # the size is still judged
    assert moved >= 10  # the case is really here
