"""A stream example loses the label of a sign its augmentation moved out of frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.augment import build_pipeline
from training.data import augmented, resized_from_bytes
from training.synth.photos import MIN_SIGN_PIXELS_AT_256, RenderedPhoto, encode_jpeg
from training.synth.spec import PhotoSpec
from training.synth.stream import SyntheticStream, stream_sha256
from vision.artifact import Preprocessing

RULE = "signs_out_of_frame_unlabelled_below_px_at_256"


def _spec(size: int) -> Preprocessing:
    return Preprocessing(size=size, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def _stream(taxonomy, pipeline: str | None, *, size: int = 64, model_size: int = 48):
    return SyntheticStream(
        seed=7,
        photos_per_epoch=8,
        size=size,
        spec=_spec(model_size),
        taxonomy=taxonomy,
        augment=None if pipeline is None else build_pipeline(pipeline, seed=3),
        run_seed=3,
    )


def _edge_and_centre_photo() -> tuple[PhotoSpec, RenderedPhoto]:
    """A grey 64 px photo: a red damp patch near the left edge, a blue finish in the centre.
    Columns 0-1 stay grey, so a border replicated by a shift never shows red."""
    image = np.full((64, 64, 3), 128, dtype=np.uint8)
    edge = np.zeros((64, 64), dtype=bool)
    edge[28:36, 2:6] = True
    centre = np.zeros((64, 64), dtype=bool)
    centre[28:36, 28:36] = True
    image[edge] = (230, 20, 20)
    image[centre] = (20, 20, 230)
    signs = frozenset({"damp_mould", "premium_finishes"})
    labels = PhotoSpec(room="living_room", condition=3, signs=signs, style=0)
    masks = {"damp_mould": edge, "premium_finishes": centre}
    photo = RenderedPhoto(image, "living_room", 3, signs, 0, sign_masks=masks)
    return labels, photo


def test_a_sign_pushed_out_of_frame_loses_its_label_one_in_frame_keeps_it(taxonomy):
    stream = _stream(taxonomy, "phone", model_size=64)
    labels, photo = _edge_and_centre_photo()
    stream.render = lambda index: (labels, photo, np.random.default_rng(index))  # type: ignore[method-assign]
    damp = taxonomy.sign_names.index("damp_mould")
    finishes = taxonomy.sign_names.index("premium_finishes")
    gone, shown = [], []
    for index in range(80):
        example = stream[index]
        pixels = example.pixels.numpy().astype(np.int16)
        red = pixels[..., 0] - pixels[..., 1:].max(-1) > 40
        assert example.targets.signs[finishes] == 1.0, index  # the centre never leaves
        if not red.any():  # no red pixel left: the patch was moved out of frame
            gone.append((index, float(example.targets.signs[damp])))
        # In frame: red inside the outermost pixels (a patch whose pixel centres all lie just
        # outside can still tint the edge column, interpolated: that is not the sign shown).
        elif red[1:-1, 1:-1].sum() >= 8:
            shown.append((index, float(example.targets.signs[damp])))
    assert len(gone) >= 3 and len(shown) >= 20, (len(gone), len(shown))
    assert all(label == 0.0 for _, label in gone), gone
    assert all(label == 1.0 for _, label in shown), [i for i, label in shown if label != 1.0]


@pytest.mark.parametrize("pipeline", ["light", "phone"])
def test_tracking_signs_leaves_the_augmented_photo_bit_identical(taxonomy, pipeline):
    stream = _stream(taxonomy, pipeline)
    plain = build_pipeline(pipeline, seed=3)
    with_signs = 0
    for index in range(40):
        labels, photo, rng = stream.render(index)
        low, high = stream.config.photos.jpeg_quality
        data = encode_jpeg(photo.image, int(rng.integers(low, high + 1)))
        expected = augmented(resized_from_bytes(data, stream.spec), plain, 3, index)
        assert torch.equal(stream[index].pixels, torch.from_numpy(expected)), index
        with_signs += bool(labels.signs)
    assert with_signs >= 10


@pytest.mark.parametrize("pipeline", ["light", "phone"])
def test_with_points_draws_the_photo_the_plain_pipeline_draws(pipeline):
    augment = build_pipeline(pipeline, seed=0)
    assert augment is not None
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    points = rng.uniform(0, 47, (50, 2)).astype(np.float32)
    for seed in range(60):
        augment.set_seed(seed)
        expected = augment(rgb.copy())
        augment.set_seed(seed)
        photo, moved = augment.with_points(rgb.copy(), points)
        assert np.array_equal(photo, expected), seed
        assert moved.shape == points.shape  # none removed, in frame or not


def test_light_augmentation_never_drops_a_sign(taxonomy):
    stream = _stream(taxonomy, "light")  # drawn at 64 px, resized to 48: the points are scaled
    drawn: list[PhotoSpec] = []
    render = stream.render

    def recorded(index: int):
        labels, photo, rng = render(index)
        drawn.append(labels)
        return labels, photo, rng

    stream.render = recorded  # type: ignore[method-assign]
    positives = 0
    for index in range(300):
        targets = stream[index].targets
        expected = torch.zeros(len(taxonomy.sign_names))
        for name in drawn[-1].signs:
            expected[taxonomy.sign_names.index(name)] = 1.0
        assert torch.equal(targets.signs, expected), (index, sorted(drawn[-1].signs))
        positives += len(drawn[-1].signs)
    assert positives >= 100


def test_no_augmentation_keeps_every_sign(taxonomy):
    stream = _stream(taxonomy, None, model_size=64)
    labels, photo = _edge_and_centre_photo()
    stream.render = lambda index: (labels, photo, np.random.default_rng(index))  # type: ignore[method-assign]
    assert all(float(stream[i].targets.signs.sum()) == 2.0 for i in range(5))


def test_the_rule_is_part_of_the_training_data_hash(taxonomy):
    stream = _stream(taxonomy, "phone")
    described = stream.description(epochs=2)
    assert described[RULE] == MIN_SIGN_PIXELS_AT_256  # the generator's own constant
    without = {k: v for k, v in described.items() if k != RULE}
    assert stream_sha256(described, stream.config) != stream_sha256(without, stream.config)
