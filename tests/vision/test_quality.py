"""Quality gate: verdicts on synthetic degradations, with reasons and a retake hint."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from shanyraq.errors import ConfigError
from tests.vision.engine_fixtures import room_scene
from vision.engine import load_engine_config
from vision.quality import (
    BLURRED,
    CLIPPED,
    LOW_RESOLUTION,
    RETAKE_HINTS,
    TOO_BRIGHT,
    TOO_DARK,
    UNIFORM,
    QualityConfig,
    assess_quality,
)

CONFIG = load_engine_config().quality  # the shipped thresholds are what is tested


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [room_scene(seed, height=768, width=1024) for seed in range(6)]


def _gain(image: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(image.astype(np.float32) * factor, 0, 255).astype(np.uint8)


def test_clean_photos_pass(photos):
    for photo in photos:
        verdict = assess_quality(photo, config=CONFIG)
        assert verdict.status == "pass", verdict
        assert verdict.reasons == () and verdict.retake_hint == ""


@pytest.mark.parametrize(
    ("degrade", "status", "reason"),
    [
        (lambda im: cv2.GaussianBlur(im, (0, 0), 8), "fail", BLURRED),
        (lambda im: _gain(im, 0.12), "fail", TOO_DARK),
        (lambda im: _gain(im, 0.3), "warn", TOO_DARK),
        (lambda im: _gain(im, 3.0), "fail", TOO_BRIGHT),
        (lambda im: np.full_like(im, 128) + np.uint8(2), "fail", UNIFORM),
        (
            lambda im: cv2.resize(im, (200, 150), interpolation=cv2.INTER_AREA),
            "fail",
            LOW_RESOLUTION,
        ),
        (
            lambda im: cv2.resize(im, (600, 450), interpolation=cv2.INTER_AREA),
            "warn",
            LOW_RESOLUTION,
        ),
    ],
    ids=["blurred", "very-dark", "dim", "overexposed", "blank", "tiny", "small"],
)
def test_degradations_get_the_right_verdict(photos, degrade, status, reason):
    for photo in photos:
        verdict = assess_quality(degrade(photo), config=CONFIG)
        assert verdict.status == status, verdict
        assert reason in verdict.reasons
        assert verdict.retake_hint == RETAKE_HINTS[verdict.reasons[0]]


def test_a_blank_frame_says_only_what_it_can_and_its_size():
    """Blur and exposure mean nothing on a blank frame; its resolution still does."""
    big, tiny = np.full((768, 1024, 3), 130, np.uint8), np.full((150, 200, 3), 130, np.uint8)
    assert assess_quality(big, config=CONFIG).reasons == (UNIFORM,)
    verdict = assess_quality(tiny, config=CONFIG)
    assert (verdict.status, verdict.reasons) == ("fail", (UNIFORM, LOW_RESOLUTION))
    assert verdict.retake_hint == RETAKE_HINTS[UNIFORM]
    dark = np.full((768, 1024, 3), 3, np.uint8)  # a lens cap: blank, not "too dark" besides
    assert assess_quality(dark, config=CONFIG).reasons == (UNIFORM,)


def test_blur_verdict_worsens_monotonically(photos):
    order = {"pass": 0, "warn": 1, "fail": 2}
    for photo in photos:
        ranks = [
            order[assess_quality(cv2.GaussianBlur(photo, (0, 0), s), config=CONFIG).status]
            for s in (0.5, 2, 4, 8)
        ]
        assert ranks == sorted(ranks) and ranks[0] == 0 and ranks[-1] == 2


def test_blur_score_is_normalised_for_size(photos):
    # The same scene at 1024 and at 4096 px wide measures alike (within a factor 2).
    photo = photos[0]
    big = cv2.resize(photo, (4096, 3072), interpolation=cv2.INTER_CUBIC)
    small_score = assess_quality(photo, config=CONFIG).measurements["blur_score"]
    big_score = assess_quality(big, config=CONFIG).measurements["blur_score"]
    assert 0.5 < big_score / small_score < 2.0


def test_clipping_is_reported_and_fail_reasons_come_first():
    image = np.zeros((600, 800, 3), dtype=np.uint8)
    image[:, :600] = 255
    image[:, 600:] = np.random.default_rng(0).integers(0, 256, (600, 200, 3))
    verdict = assess_quality(image, config=CONFIG)
    assert CLIPPED in verdict.reasons and verdict.status == "fail"
    assert verdict.measurements["clipped_fraction"] > 0.5
    dim_and_small = cv2.resize(_gain(room_scene(1), 0.3), (300, 225))  # warn + fail
    verdict = assess_quality(dim_and_small, config=CONFIG)
    assert verdict.reasons == (LOW_RESOLUTION, TOO_DARK) and verdict.status == "fail"


def test_original_size_decides_resolution(photos):
    reduced = cv2.resize(photos[0], (256, 192), interpolation=cv2.INTER_AREA)
    assert LOW_RESOLUTION in assess_quality(reduced, config=CONFIG).reasons
    upstream = assess_quality(reduced, config=CONFIG, original_size=(4000, 3000))
    assert LOW_RESOLUTION not in upstream.reasons


def test_default_config_is_the_shipped_one(photos):
    assert assess_quality(photos[0]) == assess_quality(photos[0], config=CONFIG)


def test_bad_input_and_bad_thresholds_refused():
    with pytest.raises(ValueError, match="RGB uint8"):
        assess_quality(np.zeros((10, 10), dtype=np.uint8), config=CONFIG)
    with pytest.raises(ValueError, match="blur_fail must not exceed blur_warn"):
        QualityConfig.model_validate({**CONFIG.model_dump(), "blur_fail": 50, "blur_warn": 10})


def test_config_file_errors_name_the_key(tmp_path):
    path = tmp_path / "engine.yaml"
    path.write_text("quality:\n  blur_fail: -1\n")
    with pytest.raises(ConfigError, match=r"quality\.blur_fail"):
        load_engine_config(path)
