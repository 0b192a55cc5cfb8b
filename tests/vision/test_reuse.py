"""Reuse verification: edited copies of generator photos pass, look-alike homes do not."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from benchmarks.bench_hashing import EDITS, ONE_SIDED
from benchmarks.quality_curves import scenes
from tests.vision.reuse_helpers import look_alike
from vision.engine import load_engine_config
from vision.hashing import reuse_hashes
from vision.reuse import VerificationConfig, features, verify

HASHING = load_engine_config().hashing
CONFIG = HASHING.verification


@pytest.fixture(scope="module")
def rooms() -> list[np.ndarray]:
    return scenes(8, seed=3, width=640)


@pytest.mark.parametrize("edit", sorted({**EDITS, **ONE_SIDED}))
def test_edited_copies_are_the_same_photo(rooms, edit):
    edits = {**EDITS, **ONE_SIDED}
    for room in rooms:
        copy = features(edits[edit](room), CONFIG)
        verdict = verify(copy, features(room, CONFIG), CONFIG)
        assert verdict.same_photo, (edit, verdict)
        assert verify(features(room, CONFIG), copy, CONFIG).same_photo  # either order


def test_different_rooms_are_not(rooms):
    found = [features(room, CONFIG) for room in rooms]
    for i, a in enumerate(found):
        for b in found[i + 1 :]:
            assert not verify(a, b, CONFIG).same_photo


def test_look_alike_home_is_a_candidate_but_not_the_same_photo():
    a, b = look_alike(6), look_alike(27)
    distance = reuse_hashes(a, HASHING.crop_fractions).distance(
        reuse_hashes(b, HASHING.crop_fractions)
    )
    assert distance <= HASHING.candidate_radius  # the hash alone would flag it
    verdict = verify(features(a, CONFIG), features(b, CONFIG), CONFIG)
    assert verdict.inliers >= CONFIG.min_inliers  # and so would geometry alone
    assert not verdict.same_photo and verdict.reason == "pixels differ after alignment"


def test_flat_photos_are_never_the_same_photo():
    rng = np.random.default_rng(0)
    wall = np.full((480, 640, 3), 180, np.uint8)
    noisy = np.clip(wall + rng.normal(0, 1, wall.shape), 0, 255).astype(np.uint8)
    verdict = verify(features(wall, CONFIG), features(noisy, CONFIG), CONFIG)
    assert not verdict.same_photo


def test_features_use_a_small_working_copy(rooms):
    found = features(rooms[0], CONFIG)
    assert max(found.grey.shape) == CONFIG.working_side_px
    assert found.descriptors is not None and len(found.points) == len(found.descriptors)
    assert 0 < found.nbytes < 200_000


@pytest.mark.parametrize(
    "bad", [{"ratio_test": 1.5}, {"min_inliers": 2}, {"min_agreeing_blocks": 0}, {"x": 1}]
)
def test_config_is_validated(bad):
    # The shipped config with one change, so each case fails for its own value.
    shipped = CONFIG.model_dump()
    VerificationConfig.model_validate(shipped)
    with pytest.raises(ValidationError):
        VerificationConfig.model_validate({**shipped, **bad})


@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 5000, 3), (5000, 2, 3), (1, 300, 3), (20, 20, 3)])
def test_tiny_and_thin_photos_have_no_features_and_do_not_raise(shape):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, shape, dtype=np.uint8)
    found = features(photo, CONFIG)  # ORB used to assert on a 1-pixel working side
    assert not found.verifiable and found.descriptors is None and len(found.points) == 0
    assert not verify(found, found, CONFIG).same_photo  # pixels say nothing either way


def test_unverifiable_features_leave_the_verdict_to_informative_hashes():
    from vision.hashing import PhotoHash, perceptual_hash, same_photo

    rng = np.random.default_rng(1)
    strip = rng.integers(0, 256, (3, 5000, 3), dtype=np.uint8)
    copy = np.clip(strip.astype(np.int16) + 2, 0, 255).astype(np.uint8)  # re-lit copy
    a, b = perceptual_hash(strip), perceptual_hash(copy)
    assert a.informative and a.distance(b) <= HASHING.reuse_radius
    fa, fb = features(strip, CONFIG), features(copy, CONFIG)
    assert same_photo(a, b, fa, fb, HASHING)  # cannot verify: the hash decides, as without pixels
    blank = PhotoHash(phash=1 << 63, dhash=0)  # a flat frame's hash
    assert not same_photo(blank, blank, None, None, HASHING)
    tiny = features(np.zeros((1, 1, 3), np.uint8), CONFIG)
    assert not same_photo(blank, blank, tiny, tiny, HASHING)
