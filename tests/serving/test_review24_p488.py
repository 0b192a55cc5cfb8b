"""Review 24 (p488) of the reuse index: a photo whose hash is not informative, but whose pixels
are, is still checked for reuse on its pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from serving.reuse_index import ReuseIndex
from tests.serving.helpers import REGION
from tests.vision.quality_helpers import SIZES, crack_on_a_wall, wall_photo
from vision.engine import get_engine_config
from vision.hashing import reuse_hashes
from vision.quality import assess_quality

CONFIG = get_engine_config().hashing


def _jpeg_copy(pixels: np.ndarray, quality: int = 70) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def _hex(pixels: np.ndarray) -> str:
    return reuse_hashes(pixels, CONFIG.crop_fractions).to_hex()


@pytest.fixture
def filed() -> tuple[ReuseIndex, dict[str, np.ndarray]]:
    """F1 filed a close-up of a cracked wall (photo 1); F3 and F4 blank walls (photos 2, 3)."""
    stored = {
        "a" * 64: crack_on_a_wall(3, 60),
        "c" * 64: wall_photo("radial", SIZES["0.3MP"], base=190, noise_sd=3, seed=1),
        "d" * 64: wall_photo("flat", SIZES["0.3MP"], base=190, noise_sd=3, seed=2),
    }
    index = ReuseIndex(config=CONFIG, load_pixels=stored.__getitem__)
    for photo_id, (sha, family) in enumerate(zip(stored, ["F1", "F3", "F4"], strict=True), 1):
        index.add(photo_id, _hex(stored[sha]), family_id=family, region=REGION, sha256=sha)
    return index, stored


def test_a_reencoded_copy_of_a_cracked_wall_is_flagged(filed):
    # Before: the crack barely moves the low frequencies, so the photo's pHash kept 10 set bits,
    # under MIN_INFORMATIVE_PHASH_BITS like a blank frame's; such a hash proposed no candidates
    # at all and the copy filed for another family was never checked, though the quality gate
    # passes it as evidence (structural damage) and pixels verify it at once.
    index, stored = filed
    crack = stored["a" * 64]
    copy = _jpeg_copy(crack)
    assert assess_quality(copy).status == "pass"
    assert not reuse_hashes(copy, CONFIG.crop_fractions).full.informative  # the case is here
    found = index.verified(_hex(copy), family_id="F2", sha256="b" * 64, pixels=copy)
    assert [(m.photo_id, m.family_id) for m in found] == [(1, "F1")]
    # And the same answer on the family page, the query photo read from the store.
    stored["b" * 64] = copy
    index.add(9, _hex(copy), family_id="F2", region=REGION, sha256="b" * 64)
    assert [m.photo_id for m in index.verified(_hex(copy), family_id="F2")] == [1]


def test_blank_walls_of_different_families_are_still_not_the_same_photo(filed):
    index, _ = filed
    wall = wall_photo("radial", SIZES["0.3MP"], base=190, noise_sd=3, seed=5)
    assert index.verified(_hex(wall), family_id="F2", sha256="e" * 64, pixels=wall) == []
    other_crack = np.ascontiguousarray(crack_on_a_wall(3, 60)[::-1])  # another crack
    found = index.verified(_hex(other_crack), family_id="F2", sha256="f" * 64, pixels=other_crack)
    assert found == []


def test_without_pixels_such_a_hash_never_decides_alone():
    crack = crack_on_a_wall(3, 60)
    index = ReuseIndex(config=CONFIG)  # nothing to verify on: the full hash would decide
    index.add(1, _hex(crack), family_id="F1", region=REGION, sha256="a" * 64)
    copy = _jpeg_copy(crack)
    assert index.verified(_hex(copy), family_id="F2", sha256="b" * 64) == []
