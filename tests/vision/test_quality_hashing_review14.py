"""Review 14 of the quality gate and reuse hashes: small photos, noisy blank frames, hex input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.vision.engine_fixtures import room_scene
from tests.vision.quality_helpers import blank_wall
from vision import hashing, quality
from vision.engine import load_engine_config
from vision.io_checks import MAX_ASPECT
from vision.quality import (
    BLURRED,
    TOO_BRIGHT,
    TOO_DARK,
    UNIFORM,
    QualityConfig,
    assess_quality,
)

ENGINE = load_engine_config()
QUALITY, HASHING = ENGINE.quality, ENGINE.hashing


@pytest.fixture(scope="module")
def blurred_rooms() -> list[np.ndarray]:
    """Rooms blurred so hard (sigma 4 px at 1024x768) that the gate calls them blurred."""
    rooms = [room_scene(seed, height=768, width=1024) for seed in range(3)]
    return [cv2.GaussianBlur(room, (0, 0), 4) for room in rooms]


def _shrink(image: np.ndarray, short_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    size = (round(w * short_side / min(h, w)), round(h * short_side / min(h, w)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("short_side", [360, 300])
def test_a_blurred_photo_shrunk_below_the_working_side_is_still_blurred(blurred_rooms, short_side):
    # Before: measured at its own size, the 400x300 copy scored ~5x the full photo's blur
    # score and passed the blur test (only `low_resolution` was reported).
    for room in blurred_rooms:
        full = assess_quality(room, config=QUALITY)
        small = assess_quality(_shrink(room, short_side), config=QUALITY)
        assert BLURRED in full.reasons
        assert BLURRED in small.reasons, small.measurements
        ratio = small.measurements["blur_score"] / full.measurements["blur_score"]
        assert 0.5 < ratio < 2.0, ratio


def test_a_sharp_small_photo_is_not_called_blurred():
    room = room_scene(0, height=768, width=1024)
    verdict = assess_quality(_shrink(room, 240), config=QUALITY)
    assert BLURRED not in verdict.reasons and verdict.status == "warn"


@pytest.mark.parametrize("shape", [(1, 1), (1, 300), (300, 1), (2, 2), (3, 700), (1, 20000)])
@pytest.mark.parametrize("value", [0, 128, 255])
def test_degenerate_frames_are_uniform_with_finite_measurements(shape, value):
    verdict = assess_quality(np.full((*shape, 3), value, np.uint8), config=QUALITY)
    assert verdict.status == "fail" and verdict.reasons[0] == UNIFORM
    assert all(np.isfinite(v) for v in verdict.measurements.values()), verdict.measurements


def test_enlarging_for_the_blur_score_is_bounded():
    strip = np.zeros((1, 20000), np.uint8)  # past vision.io's aspect limit: bounded anyway
    enlarged = quality.sharpness_grey(strip, QUALITY.working_side_px)
    assert enlarged.shape == (QUALITY.working_side_px, MAX_ASPECT * QUALITY.working_side_px)
    big = np.zeros((600, 900), np.uint8)
    assert quality.sharpness_grey(big, QUALITY.working_side_px) is big  # never shrunk


def test_a_greyscale_photo_as_three_equal_channels_measures_as_grey():
    room = cv2.cvtColor(room_scene(2), cv2.COLOR_RGB2GRAY)
    as_rgb = np.repeat(room[..., None], 3, axis=2)
    verdict = assess_quality(as_rgb, config=QUALITY)
    assert verdict.measurements["mean_luminance"] == pytest.approx(float(room.mean()), abs=1e-6)
    assert hashing.perceptual_hash(as_rgb) == hashing.perceptual_hash(room)


def _checkerboard(low: int, high: int) -> np.ndarray:
    yy, xx = np.mgrid[0:512, 0:640]  # the working side: measured unscaled
    grey = np.where((yy // 2 + xx // 2) % 2 == 0, low, high).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def test_exposure_at_exact_thresholds_is_the_milder_verdict():
    # Mean exactly dark_fail: "below = fail", so a warning; exactly bright_fail likewise.
    spread = 20  # wide enough not to be a blank frame, narrow enough not to clip
    dark = assess_quality(
        _checkerboard(int(QUALITY.dark_fail) - spread, int(QUALITY.dark_fail) + spread),
        config=QUALITY,
    )
    assert dark.measurements["mean_luminance"] == QUALITY.dark_fail
    assert dark.status == "warn" and dark.reasons == (TOO_DARK,)
    bright = assess_quality(
        _checkerboard(int(QUALITY.bright_fail) - spread, int(QUALITY.bright_fail) + spread),
        config=QUALITY,
    )
    assert bright.measurements["mean_luminance"] == QUALITY.bright_fail
    assert bright.status == "warn" and bright.reasons[0] == TOO_BRIGHT


def test_overlapping_dark_and_bright_bands_are_refused():
    # Before: accepted, and a mid-grey photo was then both too dark and too bright.
    values = {**QUALITY.model_dump(), "dark_warn": 210.0, "bright_warn": 205.0}
    values["bright_fail"] = 230.0
    with pytest.raises(ValueError, match="dark_warn must not exceed bright_warn"):
        QualityConfig.model_validate(values)


WALLS = {
    "flat white, noise 2": {"base": 200.0, "noise": 2.0, "falloff": 0.0},
    "covered lens, noise 1.5": {"base": 5.0, "noise": 1.5, "falloff": 0.0},
    "white wall, falloff 10 %": {"base": 240.0, "noise": 3.0, "falloff": 0.1},
    "white wall, falloff 30 %": {"base": 200.0, "noise": 2.0, "falloff": 0.3},
}


@pytest.mark.parametrize("wall", sorted(WALLS))
def test_noisy_blank_frames_are_not_informative(wall):
    # Before: sensor noise set 32 pHash bits at random, so every such frame was informative,
    # and walls of one falloff came within reuse_radius of each other (hashing.same_photo by hash).
    frames = [blank_wall(seed, **WALLS[wall]) for seed in range(6)]
    hashes = [hashing.reuse_hashes(frame, HASHING.crop_fractions) for frame in frames]
    assert not any(h.full.informative for h in hashes), [h.full.phash.bit_count() for h in hashes]
    index = hashing.HashIndex(hashes_per_photo=1 + len(HASHING.crop_fractions))
    for i, h in enumerate(hashes):
        index.add(str(i), h)
    for i, h in enumerate(hashes):  # each frame its own family
        assert hashing.candidates(index, h, family_of=str, family_id=str(i), config=HASHING) == []
        for g in hashes:
            assert not hashing.same_photo(h.full, g.full, None, None, HASHING)


def test_room_photos_keep_informative_hashes_and_jpeg_copies_match():
    for seed in range(6):
        room = room_scene(seed)
        h = hashing.perceptual_hash(room)
        assert h.informative and h.phash.bit_count() >= 24, h.phash.bit_count()
        ok, data = cv2.imencode(".jpg", room, [cv2.IMWRITE_JPEG_QUALITY, 60])
        assert ok
        copy = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        assert hashing.same_photo(h, hashing.perceptual_hash(copy), None, None, HASHING)


@pytest.mark.parametrize(
    "text",
    [
        "-" + "0" * 14 + "1" + "0" * 16,  # int(..., 16) reads a negative pHash
        "0x" + "0" * 14 + "0" * 16,
        " " + "0" * 15 + "0" * 16,
        "0000_00000000000" + "0" * 16,
        "g" * 32,
    ],
)
def test_hex_that_is_not_hex_digits_is_refused(text):
    assert len(text) == 32
    with pytest.raises(ValueError, match="hex digits"):
        hashing.PhotoHash.from_hex(text)
    with pytest.raises(ValueError, match="hex digits"):
        hashing.PhotoHashes.from_hex(text + "0" * 32)


@pytest.mark.parametrize("value", [-1, 1 << 64])
def test_a_hash_outside_64_bits_is_refused(value):
    # Before: accepted, then written as 33 hex digits or with a minus sign, and the index
    # raised OverflowError on it.
    with pytest.raises(ValueError, match="64-bit"):
        hashing.PhotoHash(phash=value, dhash=0)
    with pytest.raises(ValueError, match="64-bit"):
        hashing.PhotoHash(phash=0, dhash=value)


def test_index_radius_past_the_hash_length_and_below_zero():
    index = hashing.HashIndex()
    index.add("a", hashing.PhotoHash(phash=(1 << 64) - 1, dhash=(1 << 64) - 1))  # 128 bits away
    index.add("b", hashing.PhotoHash(phash=1, dhash=0))
    query = hashing.PhotoHash(phash=0, dhash=0)
    assert index.query(query, radius=128) == [("b", 1), ("a", 128)]
    assert index.query(query, radius=10**6) == [("b", 1), ("a", 128)]
    assert index.query(query, radius=-1) == []


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (3, 700), (700, 3), (5, 5)])
def test_crop_hashes_of_photos_smaller_than_the_crop(shape):
    image = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    hashes = hashing.reuse_hashes(image, HASHING.crop_fractions)
    assert len(hashes.crops) == len(HASHING.crop_fractions)
    assert hashing.PhotoHashes.from_hex(hashes.to_hex()) == hashes


def test_same_bytes_give_the_same_hashes():
    ok, data = cv2.imencode(".png", room_scene(4))
    assert ok
    first = hashing.reuse_hashes(cv2.imdecode(data, cv2.IMREAD_UNCHANGED), HASHING.crop_fractions)
    again = hashing.reuse_hashes(
        cv2.imdecode(data.copy(), cv2.IMREAD_UNCHANGED), HASHING.crop_fractions
    )
    assert first.to_hex() == again.to_hex()
