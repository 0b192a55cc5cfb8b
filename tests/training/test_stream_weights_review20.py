"""Review 20: class weights from a stream's first epoch, and the ceiling without dwelling rooms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from shanyraq.errors import ConfigError
from training.data import IGNORE, Targets, balanced_weights, encode_targets, label_counts
from training.recipe import load_recipe
from training.synth.ceiling import condition_ceiling
from training.synth.config import SynthConfig, get_synth_config
from training.synth.stream import SyntheticStream
from training.train import build_loss
from vision.artifact import Preprocessing
from vision.model import ModelOutput

SPEC = Preprocessing(size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def _stream(taxonomy, *, photos_per_epoch: int, seed: int = 5, **kw) -> SyntheticStream:
    # Labels only: building a stream draws its first epoch's labels, never a pixel.
    return SyntheticStream(
        seed=seed, photos_per_epoch=photos_per_epoch, size=48, spec=SPEC, taxonomy=taxonomy, **kw
    )


def test_a_class_the_counts_lack_weighs_as_the_rarest_seen_class():
    # Before: 0, so a class the counted labels lacked was never learnt.
    weights = balanced_weights(np.array([90.0, 10.0, 0.0, 30.0]))
    assert weights[2] == weights[1] == weights.max() > weights[3] > weights[0] > 0
    assert np.isclose(weights[[0, 1, 3]].mean(), 1.0)  # present classes: mean 1, as before
    assert (balanced_weights(np.zeros(3)) == 1.0).all()  # nothing counted: all alike


def test_a_room_the_streams_first_epoch_never_drew_still_trains(taxonomy):
    # A 4-photo epoch cannot draw all 6 rooms; later epochs draw new photos, the missing
    # rooms among them, but the loss weighs rooms by the first epoch's labels.
    stream = _stream(taxonomy, photos_per_epoch=4)
    config = load_recipe(Path("configs/train/tiny.yaml"))
    assert config.optim.class_balance == "weights"
    rooms = label_counts(stream.targets, head="room", size=taxonomy.head_size("room"))
    assert (rooms == 0).any()
    later = (encode_targets(stream.labels(i), taxonomy) for i in range(4, 400))
    unseen = next(t for t in later if rooms[int(t.room)] == 0)

    loss_fn = build_loss(config, stream.targets, taxonomy)
    assert loss_fn.room_class_weights is not None and loss_fn.grade_weights is not None
    assert (loss_fn.room_class_weights > 0).all() and (loss_fn.grade_weights > 0).all()
    g = torch.Generator().manual_seed(0)
    sizes = [taxonomy.head_size(h) for h in ("room", "condition", "signs")]
    out = ModelOutput(
        torch.randn(1, sizes[0], generator=g, requires_grad=True),
        torch.randn(1, sizes[1] - 1, generator=g),
        torch.randn(1, sizes[2], generator=g),
        torch.randn(1, 4, generator=g),
    )
    batch = Targets(
        torch.tensor([int(unseen.room)]),
        torch.tensor([IGNORE]),
        torch.zeros(1, sizes[2]),
        torch.tensor([False]),
    )
    parts = loss_fn(out, batch)
    assert parts.room.item() > 0  # before: 0, and no gradient towards the unseen room
    parts.total.backward()
    assert out.room.grad is not None and out.room.grad.abs().sum() > 0


def test_the_demo_recipes_class_weights_are_unchanged(taxonomy):
    # The demo's first epoch (4,864 photos) draws every room and grade, so no class falls back
    # and its weights are plain inverse frequency, as before the fallback (the demo model stands).
    config = load_recipe(Path("configs/train/demo.yaml"))
    s = config.data.stream
    assert s is not None and config.optim.class_balance == "weights"
    stream = _stream(
        taxonomy,
        photos_per_epoch=s.photos_per_epoch,
        seed=s.seed,
        exclude_styles=tuple(config.data.held_out_styles),
        new_photos_each_epoch=s.new_photos_each_epoch,
    )
    for head in ("room", "condition"):
        counts = label_counts(stream.targets, head=head, size=taxonomy.head_size(head))
        assert (counts > 0).all()
        plain = np.sqrt(counts.sum() / counts)
        np.testing.assert_array_equal(balanced_weights(counts), plain / plain.mean())


def _dwelling_weights(value: float, taxonomy) -> SynthConfig:
    config = get_synth_config()
    raw = config.model_dump(mode="json")
    raw["photos"]["room_weights"] = {
        r: (1.0 if r == taxonomy.not_dwelling else value) for r in taxonomy.room_names
    }
    return SynthConfig.model_validate(raw).check_against(taxonomy)  # passes load


def test_the_ceiling_refuses_a_config_that_draws_no_dwelling_room(taxonomy):
    # Before: numpy's "probabilities contain NaN" (0/0) once the build had trained the model.
    with pytest.raises(ConfigError, match=r"every dwelling room .* has weight 0"):
        condition_ceiling(n=50, config=_dwelling_weights(0.0, taxonomy), taxonomy=taxonomy)
    ceiling = condition_ceiling(n=200, config=_dwelling_weights(0.5, taxonomy), taxonomy=taxonomy)
    assert ceiling.n_photos == 200 and 0 < ceiling.qwk["0"] <= 1
