"""Review 21 of vision.reuse: impossible verification configs, date-stamp banners, wide blurs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from benchmarks.bench_hashing import EDITS, ONE_SIDED
from benchmarks.quality_curves import scenes
from shanyraq.errors import ConfigError
from vision.engine import load_engine_config
from vision.reuse import features, verify

CONFIG = load_engine_config().hashing.verification


def _load_with(tmp_path: Path, changes: dict) -> None:
    data = yaml.safe_load((Path(__file__).parents[2] / "configs" / "engine.yaml").read_text())
    data["hashing"]["verification"].update(changes)
    path = tmp_path / "engine.yaml"
    path.write_text(yaml.safe_dump(data))
    load_engine_config(path)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        # More textured blocks than the grid has: no pair could ever be the same photo.
        ({"min_textured_blocks": 17}, ("min_textured_blocks", "block_grid")),
        ({"block_grid": 2, "min_textured_blocks": 5}, ("min_textured_blocks", "block_grid")),
        ({"min_agreeing_rows_and_columns": 5}, ("min_agreeing_rows_and_columns", "block_grid")),
        ({"orb_features": 50, "min_inliers": 60}, ("min_inliers", "orb_features")),
        # No keypoint fits a working copy this small: every photo unverifiable.
        ({"working_side_px": 64, "orb_patch_px": 32}, ("working_side_px", "orb_patch_px")),
    ],
)
def test_impossible_combinations_are_refused_at_load_naming_both_keys(tmp_path, changes, named):
    with pytest.raises(ConfigError) as info:
        _load_with(tmp_path, changes)
    assert "hashing.verification" in str(info.value)
    assert all(key in str(info.value) for key in named), str(info.value)


@pytest.mark.parametrize(
    "changes",
    [
        {"ratio_test": 1.0},
        {"min_overlap": 1.5},
        {"min_agreeing_blocks": 1.2},
        {"min_block_correlation": 1.5},
        {"min_inliers": 3},  # a similarity has 4 degrees of freedom: 3 points always fit
    ],
)
def test_out_of_range_values_are_refused_at_load(tmp_path, changes):
    (key,) = changes
    with pytest.raises(ConfigError, match=rf"key 'hashing\.verification\.{key}'"):
        _load_with(tmp_path, changes)


def test_the_limits_themselves_are_allowed(tmp_path):
    _load_with(tmp_path, {"min_textured_blocks": 16, "min_agreeing_rows_and_columns": 4})
    _load_with(tmp_path, {"working_side_px": 64, "orb_patch_px": 31, "min_inliers": 500})


def _date_stamp(image: np.ndarray, text: str) -> np.ndarray:
    """A camera's date-stamp banner across the bottom of the frame (orange, as cameras do)."""
    out = image.copy()
    height = out.shape[0]
    cv2.putText(
        out, text, (10, height - 25), cv2.FONT_HERSHEY_SIMPLEX, 1.9, (255, 160, 0), 4,
        cv2.LINE_AA,
    )  # fmt: skip
    return out


def _night_shot(seed: int) -> np.ndarray:
    """A near-black photo: faint, smooth noise, flat at block scale."""
    rng = np.random.default_rng(seed)
    grey = cv2.GaussianBlur(rng.normal(8, 1.0, (480, 640)).astype(np.float32), (0, 0), 3)
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def test_two_night_shots_with_the_same_date_stamp_are_not_the_same_photo():
    # Only the banner's row of blocks had texture, all four agreed (min_textured_blocks 4 is
    # one row of the 4x4 grid), and two different homes were flagged as one photo.
    a = _date_stamp(_night_shot(1), "2023-07-14  21:37:05")
    b = _date_stamp(_night_shot(2), "2023-07-15  21:37:05")
    fa, fb = features(a, CONFIG), features(b, CONFIG)
    for verdict in (verify(fa, fb, CONFIG), verify(fb, fa, CONFIG)):
        assert verdict.inliers >= CONFIG.min_inliers  # geometry alone would flag them
        assert not verdict.same_photo and "date stamp" in verdict.reason


@pytest.mark.parametrize("edit", ["crop-4%", "crop-4%+half+q60", "darker"])
def test_a_real_copy_with_a_date_stamp_is_still_the_same_photo(edit):
    for room in scenes(3, seed=3, width=640):
        photo = _date_stamp(room, "2023-07-14  21:37:05")
        copy = features(EDITS[edit](photo), CONFIG)
        assert verify(copy, features(photo, CONFIG), CONFIG).same_photo
        assert verify(features(photo, CONFIG), copy, CONFIG).same_photo


@pytest.fixture(scope="module")
def rooms() -> list[np.ndarray]:
    return scenes(6, seed=3, width=640)


@pytest.mark.parametrize("edit", ["crop-4%", "crop-8%", "crop-4%+half+q60", "crop-left-8%"])
def test_crops_are_the_same_photo_at_the_widest_blur_allowed(rooms, edit):
    # The blur ran after the warp and mixed the zero fill around the crop's footprint into a
    # band about 3 sigma wide: at sigma 8 no central crop verified (0 of 60 in the benchmark).
    wide = CONFIG.model_copy(update={"blur_sigma_px": 8.0})
    edit_fn = {**EDITS, **ONE_SIDED}[edit]
    for room in rooms:
        verdict = verify(features(edit_fn(room), wide), features(room, wide), wide)
        assert verdict.same_photo, verdict


def test_different_rooms_stay_apart_at_the_widest_blur_allowed(rooms):
    wide = CONFIG.model_copy(update={"blur_sigma_px": 8.0})
    found = [features(room, wide) for room in rooms]
    for i, a in enumerate(found):
        for b in found[i + 1 :]:
            assert not verify(a, b, wide).same_photo


def test_a_constant_block_is_flat_even_with_min_block_std_zero():
    """Review 22: `min_block_std: 0` let a constant block through to a 0/0 correlation (NaN,
    read as flat, but with numpy's RuntimeWarning per block); it is flat without one."""
    from vision.reuse import block_correlations

    config = CONFIG.model_copy(update={"min_block_std": 0.0, "blur_sigma_px": 0.0})
    rng = np.random.default_rng(0)
    grey = np.full((128, 128), 128, np.uint8)
    grey[:, :64] = rng.integers(0, 256, (128, 64), dtype=np.uint8)  # left half textured
    photo = features(grey, config)
    identity = np.float32([[1, 0, 0], [0, 1, 0]])
    with np.errstate(all="raise"):
        blocks = block_correlations(photo, photo, identity, config)
    assert blocks is not None
    grid = blocks.reshape(config.block_grid, config.block_grid)
    half = config.block_grid // 2
    assert np.isnan(grid[:, half:]).all()  # constant: no texture to compare
    assert np.allclose(grid[:, :half], 1.0)  # the same pixels: fully correlated
