"""Review 19: the tensor resize against vision.preprocess, the JPEG completeness check, and
atomic_folder's flush to disk.

- Enlarging with the "area" filter, cv2 takes its scale as 1 / (out / n_in), which differs from
  n_in / out in the last bit for some sizes (200 -> 224 among them); its rule jumps a whole
  source pixel where dx * scale lands on a whole number, so the tensor path took the next row
  or column there: a 200 x 200 photo squashed to 224 differed by up to 133 grey levels.
- Shrinking at a scale that is no whole factor, the tensor path integrated cumulative sums and
  differed from cv2 by a grey level here and there; after a shrink along one axis and a growth
  along the other the two roundings added up to 2, over the stated tolerance of 1. It now
  sums cv2's own weights in cv2's order and gives cv2's very pixels.
- A JPEG with stray bytes between two segments (padding some encoders write; libjpeg and
  Pillow skip it) had no completeness check at all: cut and closed with an end marker, it was
  accepted with its missing part filled grey.
- atomic_folder swapped a folder in without flushing the files in it: after a crash the new
  model folder could hold empty files where the old whole one had been.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
import torch

from shanyraq.atomic import atomic_folder
from shanyraq.errors import CorruptImageError
from tests.vision.engine_fixtures import room_scene
from tests.vision.io_helpers import LIMIT, cut_jpeg, noise_jpeg
from vision.artifact import Preprocessing
from vision.completeness import jpeg_scan_end
from vision.io import decode_image
from vision.preprocess import resize
from vision.tensor_preprocess import _shrink, resize_tensor

PIXEL_TOLERANCE, MEAN_TOLERANCE = 1, 0.3  # as test_gpu.py states them
INTERPOLATIONS = ["bilinear", "bicubic", "area"]


def _spec(policy: str, interpolation: str, size: int = 224) -> Preprocessing:
    return Preprocessing(
        size=size, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
        resize=policy, interpolation=interpolation,
    )  # fmt: skip


def _chw(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb).permute(2, 0, 1).contiguous()


def _diff(rgb: np.ndarray, spec: Preprocessing) -> np.ndarray:
    expected = resize(rgb, spec).astype(np.int16)
    got = resize_tensor(_chw(rgb), spec).permute(1, 2, 0).numpy().astype(np.int16)
    assert got.shape == expected.shape
    return np.abs(expected - got)


# --- the tensor resize ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "width", "policy"),
    [
        (200, 200, "squash"),  # grows 200 -> 224 both ways
        (200, 300, "shorter_side_crop"),  # grows to 224 x 336, then cropped
        (144, 1000, "squash"),  # grows 144 -> 224, shrinks 1000 -> 224
    ],
)
def test_an_area_enlargement_takes_the_same_source_rows_and_columns_as_cv2(height, width, policy):
    diff = _diff(room_scene(3, height=height, width=width), _spec(policy, "area"))
    assert diff.max() <= PIXEL_TOLERANCE, (height, width, int(diff.max()))
    assert diff.mean() <= MEAN_TOLERANCE


@pytest.mark.parametrize(
    ("height", "width", "out_h", "out_w"),
    [
        (480, 640, 168, 224),  # a phone photo letterboxed to 224
        (97, 203, 31, 65),
        (300, 1000, 300, 224),  # one axis only, as before a growth along the other
        (245, 100, 5, 64),  # 49x: cv2 takes no fast path there (its scale is not exactly 49)
        (1, 97, 1, 32),
    ],
)
def test_a_shrink_at_any_scale_gives_cv2s_very_pixels(height, width, out_h, out_w):
    for rgb in (
        np.random.default_rng(height * width).integers(0, 256, (height, width, 3), np.uint8),
        room_scene(height + width, height=height, width=width) if height >= 16 else None,
    ):
        if rgb is None:
            continue
        expected = cv2.resize(rgb, (out_w, out_h), interpolation=cv2.INTER_AREA)
        got = _shrink(_chw(rgb).unsqueeze(0).float(), out_h, out_w)[0].permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(got, expected.astype(np.float32))


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("policy", ["squash", "shorter_side_crop", "letterbox"])
def test_a_photo_larger_than_the_model_gives_the_same_pixels_on_both_paths(policy, interpolation):
    # Every axis shrinks, so no fixed-point filter is involved: the paths agree exactly.
    rgb = room_scene(7, height=450, width=610)
    assert _diff(rgb, _spec(policy, interpolation)).max() == 0


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_a_shrink_then_a_growth_stays_within_the_stated_tolerance(interpolation):
    # 98 columns shrink to 65, 7 rows grow to 65: two roundings used to add up to 2 levels.
    rgb = np.random.default_rng(1).integers(0, 256, (7, 98, 3)).astype(np.uint8)
    diff = _diff(rgb, _spec("squash", interpolation, size=65))
    assert diff.max() <= PIXEL_TOLERANCE, int(diff.max())


# --- JPEG completeness ------------------------------------------------------------------------


def _with_stray_bytes(data: bytes, stray: bytes) -> bytes:
    """`data` with `stray` between the end of its first segment and the next marker."""
    second = 2 + 2 + int.from_bytes(data[4:6], "big")
    assert data[second] == 0xFF
    return data[:second] + stray + data[second:]


@pytest.mark.parametrize("stray", [b"\x00\x00", b"\xff\x00", b"junk"])
def test_a_whole_jpeg_with_stray_bytes_between_segments_decodes_as_without(stray):
    data = noise_jpeg((120, 90))
    padded = _with_stray_bytes(data, stray)
    assert jpeg_scan_end(padded) == jpeg_scan_end(data) + len(stray)
    got = decode_image(padded, max_pixels=LIMIT).pixels
    np.testing.assert_array_equal(got, decode_image(data, max_pixels=LIMIT).pixels)


@pytest.mark.parametrize("stray", [b"\x00\x00", b"\xff\x00", b"junk"])
@pytest.mark.parametrize("fraction", [0.3, 0.8])
def test_a_cut_jpeg_with_stray_bytes_between_segments_is_refused(stray, fraction):
    padded = _with_stray_bytes(noise_jpeg(), stray)
    with pytest.raises(CorruptImageError, match="JPEG data is incomplete"):
        decode_image(cut_jpeg(padded, fraction), max_pixels=LIMIT)


# --- atomic_folder ----------------------------------------------------------------------------


def test_a_new_folders_files_are_on_disk_before_it_is_swapped_in_and_its_parent_after(
    tmp_path, record_fsyncs
):
    target = tmp_path / "model"
    synced = record_fsyncs(lambda: (target / "sub").exists())  # whether the new folder was in
    with atomic_folder(target) as staging:
        (staging / "model.onnx").write_bytes(b"weights")
        (staging / "sub").mkdir()
        (staging / "sub" / "notes.txt").write_text("notes")
        os.symlink("/nonexistent", staging / "link")  # never followed
    before = {name for name, swapped in synced if not swapped}
    for name in ("model.onnx", "sub/notes.txt", "sub", ""):
        assert str(staging / name).rstrip("/") in before, name
    assert (str(tmp_path), True) in synced
