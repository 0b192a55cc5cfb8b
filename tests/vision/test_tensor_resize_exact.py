"""The tensor resize (the GPU path's) gives the CPU path's very pixels where a photo shrinks by
whole factors (2x, 3x, ...): training, CPU serving and GPU serving see the same input there.

cv2.INTER_AREA takes its "fast area" code at whole factors and rounds a 2 x 2 block's mean half
up ((sum + 2) >> 2); torch.round rounds halves to even, so an exact 2x shrink used to differ by
one grey level in about one value in eight. Other scales keep test_gpu.py's stated tolerance.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from tests.vision.engine_fixtures import room_scene
from vision.artifact import Preprocessing
from vision.preprocess import resize, to_input
from vision.tensor_preprocess import _shrink, normalize_tensor, resize_tensor

SIZE = 64
# (height, width, policy): every one of these resizes shrinks each axis by a whole factor.
WHOLE_FACTORS = [
    (128, 128, "squash"),  # 2 x 2
    (128, 128, "shorter_side_crop"),
    (128, 128, "letterbox"),
    (128, 256, "shorter_side_crop"),  # 2 x 2 to 64 x 128, then cropped
    (128, 96, "letterbox"),  # 2 x 2 to 64 x 48, then padded
    (256, 128, "letterbox"),  # 4 x 4
    (192, 128, "squash"),  # 3 x 2
    (64, 128, "squash"),  # 1 x 2
    (384, 320, "squash"),  # 6 x 5
]


def _spec(policy: str, interpolation: str = "bilinear") -> Preprocessing:
    return Preprocessing(
        size=SIZE, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
        resize=policy, interpolation=interpolation,
    )  # fmt: skip


def _photos(height: int, width: int) -> list[np.ndarray]:
    noise = np.random.default_rng(height * width).integers(0, 256, (height, width, 3))
    return [noise.astype(np.uint8), room_scene(height + width, height=height, width=width)]


def _chw(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb).permute(2, 0, 1).contiguous()


@pytest.mark.parametrize(("height", "width", "policy"), WHOLE_FACTORS)
@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "area"])
def test_a_whole_factor_shrink_gives_the_cpu_paths_very_pixels(
    height, width, policy, interpolation
):
    spec = _spec(policy, interpolation)
    for rgb in _photos(height, width):
        expected = resize(rgb, spec)
        got = resize_tensor(_chw(rgb), spec).permute(1, 2, 0).numpy()
        diff = np.abs(expected.astype(np.int16) - got.astype(np.int16))
        assert diff.max() == 0, (height, width, policy, int(diff.max()), int((diff > 0).sum()))


@pytest.mark.parametrize(("height", "width", "policy"), WHOLE_FACTORS[:3])
def test_a_2x_shrink_gives_the_cpu_paths_very_model_input(height, width, policy):
    spec = _spec(policy)
    for rgb in _photos(height, width):
        batch = resize_tensor(_chw(rgb), spec).unsqueeze(0)
        got = normalize_tensor(batch, spec)[0].numpy()
        np.testing.assert_array_equal(got, to_input(rgb, spec))


@pytest.mark.parametrize("factors", [(2, 1), (1, 2), (2, 2), (3, 1), (4, 4), (6, 1), (1, 6)])
def test_the_narrowing_before_a_grow_rounds_as_cv2_does(factors):
    # A photo that shrinks along one axis and grows along the other is narrowed first, on its
    # own (vision.preprocess's cv2.resize with the other axis unchanged): the same pixels.
    fy, fx = factors
    rgb = _photos(12 * fy, 20 * fx)[0]
    expected = cv2.resize(rgb, (20, 12), interpolation=cv2.INTER_AREA)
    got = _shrink(_chw(rgb).unsqueeze(0).float(), 12, 20)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(got, expected.astype(np.float32))
