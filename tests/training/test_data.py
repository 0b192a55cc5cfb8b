"""Manifest rows to targets and tensors: one pixel path shared with serving."""

from __future__ import annotations

import numpy as np
import torch

from shanyraq.manifest import ManifestRow, read_manifest
from training.data import (
    IGNORE,
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
    assert w[2] == 0 and w[1] == 9 * w[0] and np.isclose(w[:2].mean(), 1.0)
