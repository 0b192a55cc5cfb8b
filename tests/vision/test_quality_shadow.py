"""The blur score's exposure is that of the frame's lit part: scaled by the whole frame's mean,
a photo whose one side lies in shadow (a room lit by one lamp or window) was scaled up as if
the camera had been given too little light, and a blurred photo read as sharper the more of
it was dark. A shadow hides detail; it never adds any."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmarks.quality_curves import scenes
from vision.engine import load_engine_config
from vision.quality import BLURRED, assess_quality

QUALITY = load_engine_config().quality
SHADOW_SHARE = 0.5  # the share of the frame's width in shadow
SHADOW_LIGHT = 0.06  # the light left there
FALLOFF_PX = 80  # the shadow's edge: the light rises over this many pixels


@pytest.fixture(scope="module")
def rooms() -> list[np.ndarray]:
    return scenes(8, seed=0)


def _half_in_shadow(room: np.ndarray) -> np.ndarray:
    """`room` with its left side in shadow (soft-edged), as the camera saw it: before blur."""
    width = room.shape[1]
    rise = (np.arange(width, dtype=np.float32) - SHADOW_SHARE * width) / FALLOFF_PX
    light = SHADOW_LIGHT + (1 - SHADOW_LIGHT) * np.clip(rise, 0, 1)
    return np.clip(room.astype(np.float32) * light[None, :, None], 0, 255).astype(np.uint8)


def _blur_grade(verdict_reasons: tuple[str, ...], score: float) -> int:
    """2: fails on blur, 1: warned, 0: not blurred."""
    if BLURRED not in verdict_reasons:
        return 0
    return 2 if score < QUALITY.blur_fail else 1


@pytest.mark.parametrize("sigma", [4.0, 6.0])
def test_a_shadow_over_half_a_blurred_photo_does_not_make_it_sharper(rooms, sigma):
    # Before the fix: the half-shadowed frame's mean (58-85) scaled its score by 2-4x, which
    # outweighs the detail the shadow hid; at sigma 6 (every room fails in full light) 3 of 8
    # rooms were only warned, and at sigma 4 a room warned in full light passed with no reason.
    for i, room in enumerate(rooms):
        lit = assess_quality(cv2.GaussianBlur(room, (0, 0), sigma), config=QUALITY)
        shaded = assess_quality(
            cv2.GaussianBlur(_half_in_shadow(room), (0, 0), sigma), config=QUALITY
        )
        assert shaded.measurements["mean_luminance"] >= QUALITY.dark_warn  # not a dark photo
        lit_score = lit.measurements["blur_score"]
        shaded_score = shaded.measurements["blur_score"]
        assert _blur_grade(shaded.reasons, shaded_score) >= _blur_grade(lit.reasons, lit_score), (
            i,
            lit,
            shaded,
        )
        if sigma == 6.0:
            assert shaded.status == "fail" and BLURRED in shaded.reasons, (i, shaded)
