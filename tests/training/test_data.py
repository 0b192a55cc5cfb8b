"""Manifest rows to targets and tensors: one pixel path shared with serving."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shanyraq.manifest import ManifestRow, read_manifest
from training.augment import build_pipeline
from training.data import (
    IGNORE,
    EpochSampler,
    ManifestDataset,
    balanced_weights,
    encode_targets,
    model_input,
)
from vision.artifact import Preprocessing
from vision.io import decode_file
from vision.preprocess import to_input


def _row(**kw) -> ManifestRow:
    base = dict(path="x.jpg", sha256="0" * 64, family_id="f", split="train", room="kitchen",
                condition=3, signs=frozenset({"damp_mould"}), source="t")  # fmt: skip
    return ManifestRow(**{**base, **kw})


def test_targets_mask_unlabelled_and_not_dwelling(taxonomy):
    t = encode_targets(_row(), taxonomy)
    assert t.room == taxonomy.room_names.index("kitchen") and t.condition == 2
    assert t.signs[taxonomy.sign_names.index("damp_mould")] == 1 and t.signs.sum() == 1
    nd = encode_targets(_row(room=taxonomy.not_dwelling, condition=4), taxonomy)
    assert nd.condition == IGNORE and nd.signs_known is False
    unlabelled = encode_targets(_row(room=None, condition=None, signs=None), taxonomy)
    assert (unlabelled.room, unlabelled.condition, unlabelled.signs_known) == (
        IGNORE,
        IGNORE,
        False,
    )
    none = encode_targets(_row(signs=frozenset()), taxonomy)
    assert none.signs_known is True and none.signs.sum() == 0


def test_dataset_pixels_equal_the_serving_path(toy_manifest, taxonomy):
    manifest = read_manifest(toy_manifest)
    spec = Preprocessing(size=32, mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2))
    dataset = ManifestDataset(manifest.rows[:3], manifest.root, spec=spec, taxonomy=taxonomy)
    served = [
        to_input(
            decode_file(r.resolve(manifest.root), max_pixels=10**7, target_size=32).pixels, spec
        )
        for r in manifest.rows[:3]
    ]
    lazy = [dataset[i].pixels for i in range(3)]
    dataset.preload(progress=False)
    cached = [dataset[i].pixels for i in range(3)]
    assert all(p.dtype == torch.uint8 and p.shape == (32, 32, 3) for p in lazy)
    assert all(torch.equal(a, b) for a, b in zip(lazy, cached, strict=True))
    # The batch the training process normalises equals the serving path, photo by photo.
    batch = model_input(torch.stack(cached), spec)
    assert batch.shape == (3, 3, 32, 32) and batch.is_contiguous()
    assert torch.equal(batch, torch.from_numpy(np.stack(served)))


def test_balanced_weights():
    w = balanced_weights(np.array([90.0, 10.0, 0.0]), power=1.0)
    # A class the counts lack weighs as the rarest seen (training/data.py balanced_weights).
    assert w[2] == w[1] and w[1] == 9 * w[0] and np.isclose(w[:2].mean(), 1.0)


def test_epoch_sampler_draws_each_photo_once_per_epoch_as_a_global_index():
    sampler = EpochSampler(10, seed=4)
    first = list(sampler)
    assert sorted(first) == list(range(10)) and first != list(range(10))
    assert list(sampler) == first  # same seed, same epoch: same order
    sampler.set_epoch(3)
    third = list(sampler)
    assert sorted(third) == list(range(30, 40))
    assert [i - 30 for i in third] != first  # a new order each epoch
    assert list(EpochSampler(10, seed=5)) != first


def test_weighted_epoch_sampler_draws_by_weight():
    sampler = EpochSampler(1000, seed=0, weights=[0.0] * 999 + [1.0])
    sampler.set_epoch(2)
    assert set(sampler) == {2999}
    with pytest.raises(ValueError, match="3 weights for 2"):
        EpochSampler(2, seed=0, weights=[1.0, 1.0, 1.0])


def test_an_example_depends_on_its_index_not_on_what_was_drawn_before(toy_manifest, taxonomy):
    # A loader worker kept for the run must give the same pixels for index k whatever it
    # augmented earlier: the augmentation is seeded per drawn index.
    manifest = read_manifest(toy_manifest)
    spec = Preprocessing(size=32, mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))

    def dataset(seed: int) -> ManifestDataset:
        return ManifestDataset(
            manifest.rows[:4], manifest.root, spec=spec, taxonomy=taxonomy,
            augment=build_pipeline("phone", seed=0), seed=seed,
        )  # fmt: skip

    fresh, used = dataset(1), dataset(1)
    for i in (0, 5, 2, 9):
        used[i]
    assert torch.equal(fresh[6].pixels, used[6].pixels)
    assert fresh[6].targets.room == fresh[2].targets.room  # index 6 of 4 photos is photo 2
    # Another epoch of the same photo, or another run seed, is augmented differently.
    assert not torch.equal(fresh[6].pixels, fresh[2].pixels)
    assert not torch.equal(fresh[6].pixels, dataset(2)[6].pixels)
