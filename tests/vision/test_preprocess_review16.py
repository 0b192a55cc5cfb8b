"""Preprocessing parity (review 16): the numpy path (training, CPU serving: vision.preprocess)
and the tensor path (GPU serving: vision.tensor_preprocess) give one photo the same input.

Stated tolerance, as test_gpu.py's: a resized pixel differs by at most 1 grey level and by
under 0.3 on average. cv2 computes bilinear and bicubic in 11-bit fixed point and area in its
own float arithmetic, torch in float32; each rounds to 8 bits, so a value that lands near a
half can round either way, never further. A normalised value then differs by at most
1 / (255 * std). Where no arithmetic is involved (a photo already at the model's size, a flat
colour, the letterbox padding, the normalisation of the same pixels) the paths agree exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from shanyraq.errors import ModelMismatchError
from tests.vision.engine_fixtures import room_scene
from training.data import model_input
from vision.artifact import Labels, ModelArtifact, Preprocessing, read_artifact, write_artifact
from vision.preprocess import normalize, resize, scaling, to_batch, to_input
from vision.tensor_preprocess import normalize_tensor, resize_tensor

POLICIES = ["squash", "shorter_side_crop", "letterbox"]
INTERPOLATIONS = ["bilinear", "bicubic", "area"]
PIXEL_TOLERANCE, MEAN_TOLERANCE = 1, 0.3
SIZE = 32
# Mean and std differ per channel, so a swapped channel order or mean/std shows.
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
ODD_SHAPES = [
    (1, 1),
    (1, 97),  # one row
    (97, 1),  # one column
    (1, SIZE),
    (2, 129),
    (31, 17),  # smaller than the model on both sides, odd
    (33, 65),  # odd sides, one just above the size
    (65, 33),
    (20, 2000),  # a very wide panorama: one axis grows (squash), the other shrinks 62x
    (2000, 20),
    (47, 4001),
    (101, 103),
]


def _spec(policy: str = "squash", interpolation: str = "bilinear", **kw) -> Preprocessing:
    fields = {"size": SIZE, "mean": MEAN, "std": STD, "resize": policy}
    return Preprocessing(**(fields | {"interpolation": interpolation} | kw))


def _chw(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb).permute(2, 0, 1).contiguous()


def _tensor_resize(rgb: np.ndarray, spec: Preprocessing) -> np.ndarray:
    return resize_tensor(_chw(rgb), spec).permute(1, 2, 0).numpy()


def _tensor_input(rgb: np.ndarray, spec: Preprocessing) -> np.ndarray:
    return normalize_tensor(resize_tensor(_chw(rgb), spec).unsqueeze(0), spec)[0].numpy()


def _noise(height: int, width: int) -> np.ndarray:
    """Independent pixels: the hardest photo for two resamplers to agree on."""
    rng = np.random.default_rng(height * 10_007 + width)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def _photo(height: int, width: int) -> np.ndarray:
    """A room-like scene; a smooth gradient where the photo is too thin to draw one."""
    if min(height, width) >= 16:
        return room_scene(height + width, height=height, width=width)
    ramp = np.add.outer(np.linspace(0, 120, height), np.linspace(0, 135, width))
    return np.stack([ramp, 255 - ramp, ramp[::-1, ::-1]], axis=2).round().astype(np.uint8)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_odd_sizes_give_the_same_input_on_both_paths(policy, interpolation):
    spec = _spec(policy, interpolation)
    input_tolerance = PIXEL_TOLERANCE / (255 * min(STD)) + 1e-5
    for height, width in ODD_SHAPES:
        for rgb in (_noise(height, width), _photo(height, width)):
            expected, got = resize(rgb, spec), _tensor_resize(rgb, spec)
            assert got.shape == expected.shape == (SIZE, SIZE, 3) and got.dtype == np.uint8
            diff = np.abs(expected.astype(np.int16) - got.astype(np.int16))
            assert diff.max() <= PIXEL_TOLERANCE, (height, width, int(diff.max()))
            assert diff.mean() <= MEAN_TOLERANCE, (height, width, float(diff.mean()))
            difference = np.abs(to_input(rgb, spec) - _tensor_input(rgb, spec))
            assert difference.max() <= input_tolerance, (height, width, float(difference.max()))


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_a_photo_at_the_models_size_passes_unchanged_on_both_paths(policy, interpolation):
    spec = _spec(policy, interpolation)
    rgb = _noise(SIZE, SIZE)
    assert np.array_equal(resize(rgb, spec), rgb)
    assert np.array_equal(_tensor_resize(rgb, spec), rgb)
    np.testing.assert_array_equal(_tensor_input(rgb, spec), to_input(rgb, spec))


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("shape", [(1, 61), (45, 13), (300, 7000), (17, 17)])
def test_a_flat_colour_stays_that_colour_and_the_padding_is_the_same_grey(
    policy, interpolation, shape
):
    colour = np.array([200, 30, 90], dtype=np.uint8)  # not the padding's grey
    rgb = np.broadcast_to(colour, (*shape, 3)).copy()
    spec = _spec(policy, interpolation)
    numpy_out, tensor_out = resize(rgb, spec), _tensor_resize(rgb, spec)
    np.testing.assert_array_equal(tensor_out, numpy_out)
    is_photo = (numpy_out == colour).all(axis=2)
    if policy == "letterbox":
        # The whole photo, centred; around it, grey 114 (as YOLO pads) on both paths, which
        # after normalising is neither zero (the mean colour) nor black.
        height, width = shape
        new_h = max(1, round(height * SIZE / max(shape)))
        new_w = max(1, round(width * SIZE / max(shape)))
        assert is_photo.sum() == new_h * new_w
        assert (numpy_out[~is_photo] == 114).all()
        pad = to_input(rgb, spec)[:, ~is_photo]
        expected_pad = (114 / 255 - np.array(MEAN)) / np.array(STD)
        np.testing.assert_allclose(pad, np.repeat(expected_pad[:, None], pad.shape[1], 1), 1e-5)
        np.testing.assert_array_equal(_tensor_input(rgb, spec)[:, ~is_photo], pad)
    else:
        assert is_photo.all()


def test_the_channels_are_rgb_and_each_gets_its_own_mean_and_std_on_every_path():
    spec = _spec()
    red = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    red[..., 0] = 255
    expected = (np.array([1.0, 0.0, 0.0]) - np.array(MEAN)) / np.array(STD)
    inputs = {
        "serving": to_input(red, spec),
        "training": model_input(torch.from_numpy(red[None]), spec)[0].numpy(),
        "gpu": _tensor_input(red, spec),
    }
    for path, got in inputs.items():
        assert got.shape == (3, SIZE, SIZE), path
        np.testing.assert_allclose(got.mean(axis=(1, 2)), expected, rtol=1e-6, err_msg=path)
        np.testing.assert_array_equal(got, inputs["serving"], err_msg=path)


def test_the_inputs_are_float32_and_contiguous_on_every_path():
    spec = _spec("shorter_side_crop")  # a crop: a view, on both paths, before normalising
    photos = [room_scene(i, height=45 + i, width=70) for i in range(3)]
    batch = to_batch(photos, spec)
    assert batch.dtype == np.float32 and batch.shape == (3, 3, SIZE, SIZE)
    assert batch.flags.c_contiguous
    one = to_input(photos[0], spec)
    assert one.dtype == np.float32 and one.flags.c_contiguous
    resized = torch.stack([resize_tensor(_chw(p), spec) for p in photos])
    tensor = normalize_tensor(resized, spec)
    assert tensor.dtype == torch.float32 and tensor.is_contiguous()
    pixels = torch.from_numpy(np.stack([resize(p, spec) for p in photos]))
    trained = model_input(pixels, spec)
    assert trained.dtype == torch.float32 and trained.is_contiguous()
    np.testing.assert_array_equal(trained.numpy(), batch)  # training sees serving's input


@pytest.mark.parametrize("shape", [(301, 517), (40, 3001), (3001, 40)])
def test_the_tensor_path_area_averages_when_shrinking(shape):
    # A one-pixel checkerboard: any fair average of 2+ pixels per axis is mid-grey; sampling
    # two pixels per output (bilinear) would alias it into values of 0..255.
    rows, cols = np.indices(shape)
    rgb = np.repeat(np.where((rows + cols) % 2 == 0, 0, 255).astype(np.uint8)[..., None], 3, 2)
    out = _tensor_resize(rgb, _spec("squash", "bilinear")).astype(np.float64)
    if min(shape) >= SIZE:
        assert np.abs(out - 127.5).max() < 8
    else:  # the short side grows: each output row is one input row's average along the long
        assert np.abs(out - 127.5).max() < 128  # not one value pinned at black or white
        assert np.abs(out.mean() - 127.5) < 8


@pytest.mark.parametrize(
    ("mean", "std"),
    [
        (MEAN, (0.229, 0.0, 0.225)),  # std 0: an input of inf (or NaN where pixel == mean)
        (MEAN, (0.229, -0.224, 0.225)),  # negative: an input of the wrong sign
        (MEAN, (0.229, float("nan"), 0.225)),
        (MEAN, (float("inf"), 0.224, 0.225)),  # inv_std 0: every input zero
        ((0.485, float("nan"), 0.406), STD),
        ((0.485, float("inf"), 0.406), STD),
    ],
    ids=["std-zero", "std-negative", "std-nan", "std-inf", "mean-nan", "mean-inf"],
)
def test_a_spec_whose_std_or_mean_cannot_normalise_is_refused_on_every_path(mean, std):
    # model.json refuses such a spec at load (below); one built in code skips that check.
    spec = Preprocessing.model_construct(**(_spec().model_dump() | {"mean": mean, "std": std}))
    rgb = room_scene(0, height=SIZE, width=SIZE)
    calls = {
        "scaling": lambda: scaling(spec),
        "serving": lambda: to_input(rgb, spec),
        "training": lambda: model_input(torch.from_numpy(rgb[None]), spec),
        "gpu": lambda: normalize_tensor(_chw(rgb).unsqueeze(0), spec),
        "batch": lambda: to_batch([rgb], spec),
    }
    for path, call in calls.items():
        with pytest.raises(ModelMismatchError) as excinfo:
            call()
        message = str(excinfo.value)
        assert "std above zero" in message and "export the model again" in message, path
        assert "\n" not in message and excinfo.value.code == "model_mismatch", path


def test_a_sound_spec_normalises_as_the_formula_says():
    spec = _spec()
    mean, inv_std = scaling(spec)
    np.testing.assert_allclose(mean, np.array(MEAN) * 255, rtol=1e-6)
    np.testing.assert_allclose(inv_std, 1 / (np.array(STD) * 255), rtol=1e-6)
    pixels = np.array([[[0, 128, 255]]], dtype=np.uint8)
    expected = (np.array([0, 128, 255]) / 255 - np.array(MEAN)) / np.array(STD)
    np.testing.assert_allclose(normalize(pixels, spec)[:, 0, 0], expected, rtol=1e-5)


def _model_json(folder, taxonomy) -> None:
    """A sound model.json alone: read_artifact reads nothing else."""
    artifact = ModelArtifact(
        model_version="review16", backbone="test_tiny", taxonomy_version=taxonomy.version,
        taxonomy_fingerprint=taxonomy.fingerprint(), labels=Labels.of(taxonomy),
        condition_formulation="coral", preprocessing=_spec(), embedding_dim=16,
    )  # fmt: skip
    write_artifact(folder, artifact)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("size", 0), ("size", -224), ("size", 2.5), ("resize", "crop"),
        ("interpolation", "nearest"), ("std", [0.229, 0, 0.225]), ("std", [0.229, -0.2, 0.225]),
        ("std", [0.229, float("inf"), 0.225]), ("mean", [0.485, float("nan"), 0.406]),
    ],
)  # fmt: skip
def test_a_model_json_with_an_impossible_size_or_policy_is_refused_at_load(
    key, value, taxonomy, tmp_path
):
    folder = tmp_path
    _model_json(folder, taxonomy)
    assert read_artifact(folder).preprocessing == _spec()
    data = json.loads((folder / "model.json").read_text())
    data["preprocessing"][key] = value
    (folder / "model.json").write_text(json.dumps(data))
    with pytest.raises(ModelMismatchError) as excinfo:
        read_artifact(folder)
    message = str(excinfo.value)
    assert f"key 'preprocessing.{key}" in message and "model.json" in message
    assert "\n" not in message
