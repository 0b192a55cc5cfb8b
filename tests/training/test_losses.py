"""The loss per head on hand-made batches: masking, not_dwelling, CORAL and ordinal terms."""

from __future__ import annotations

import math
from typing import Literal

import pytest
import torch

from training.data import IGNORE, Targets
from training.losses import LossSettings, MultiHeadLoss, coral_levels, ordinal_softmax_loss
from vision.model import ModelOutput

ROOMS, GRADES, SIGNS, ND = 6, 5, 8, 5


def _output(n: int, *, coral: bool = True, requires_grad: bool = True) -> ModelOutput:
    g = torch.Generator().manual_seed(0)

    def t(*shape):
        return torch.randn(*shape, generator=g).requires_grad_(requires_grad)

    return ModelOutput(t(n, ROOMS), t(n, GRADES - 1 if coral else GRADES), t(n, SIGNS), t(n, 4))


def _loss(formulation: Literal["coral", "softmax"] = "coral", **kw) -> MultiHeadLoss:
    return MultiHeadLoss(
        LossSettings(condition_formulation=formulation, not_dwelling_index=ND, **kw)
    )


def test_coral_levels_hand_made():
    assert coral_levels(torch.tensor([0, 2, 4]), 5).tolist() == [
        [0, 0, 0, 0],
        [1, 1, 0, 0],
        [1, 1, 1, 1],
    ]


def test_coral_loss_matches_hand_computation():
    out = ModelOutput(
        torch.zeros(1, ROOMS), torch.zeros(1, GRADES - 1), torch.zeros(1, SIGNS), torch.zeros(1, 4)
    )
    targets = Targets(
        torch.tensor([0]), torch.tensor([2]), torch.zeros(1, SIGNS), torch.tensor([True])
    )
    parts = _loss()(out, targets)
    # All logits zero: each of the 4 binary terms is log 2; room CE is log 6; signs BCE log 2.
    assert parts.condition.item() == pytest.approx(4 * math.log(2), rel=1e-5)
    assert parts.room.item() == pytest.approx(math.log(ROOMS), rel=1e-5)
    assert parts.signs.item() == pytest.approx(math.log(2), rel=1e-5)
    assert parts.total.item() == pytest.approx(5 * math.log(2) + math.log(ROOMS), rel=1e-5)


def test_not_dwelling_trains_room_head_only():
    out = _output(2)
    # Row 0 is not_dwelling but (wrongly) carries condition and signs labels: they must be ignored.
    targets = Targets(
        torch.tensor([ND, 1]),
        torch.tensor([3, 1]),
        torch.ones(2, SIGNS),
        torch.tensor([True, True]),
    )
    _loss()(out, targets).total.backward()
    assert out.room.grad is not None and out.condition.grad is not None
    assert out.signs.grad is not None
    assert out.room.grad[0].abs().sum() > 0
    assert out.condition.grad[0].abs().sum() == 0 and out.signs.grad[0].abs().sum() == 0
    assert out.condition.grad[1].abs().sum() > 0 and out.signs.grad[1].abs().sum() > 0


def test_unlabelled_heads_are_masked_and_add_zero():
    out = _output(2)
    targets = Targets(
        torch.tensor([IGNORE, IGNORE]),
        torch.tensor([IGNORE, IGNORE]),
        torch.zeros(2, SIGNS),
        torch.tensor([False, False]),
    )
    parts = _loss()(out, targets)
    assert parts.total.item() == 0.0
    parts.total.backward()
    assert out.room.grad is not None and out.room.grad.abs().sum() == 0


def test_ordinal_softmax_punishes_far_mistakes_more():
    near = torch.tensor([[0.0, 0.0, 5.0, 0.0, 0.0]])  # confident in grade index 2
    far = torch.tensor([[0.0, 0.0, 0.0, 0.0, 5.0]])  # confident in grade index 4
    truth = torch.tensor([1])
    kwargs = {"smoothing": 0.0, "ordinal_weight": 1.0}
    plain = {"smoothing": 0.0, "ordinal_weight": 0.0}
    assert ordinal_softmax_loss(far, truth, **plain) == pytest.approx(
        ordinal_softmax_loss(near, truth, **plain).item()
    )  # cross-entropy alone cannot tell them apart
    assert ordinal_softmax_loss(far, truth, **kwargs) > ordinal_softmax_loss(near, truth, **kwargs)


def test_class_weights_change_room_loss():
    out = _output(3, requires_grad=False)
    targets = Targets(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 2]), torch.zeros(3, SIGNS),
                      torch.tensor([True, True, True]))  # fmt: skip
    weights = torch.tensor([5.0, 0.2, 1.0, 1.0, 1.0, 1.0])
    plain = _loss("softmax")(_output(3, coral=False, requires_grad=False), targets).room
    weighted = MultiHeadLoss(
        LossSettings(condition_formulation="softmax", not_dwelling_index=ND),
        room_class_weights=weights,
    )(_output(3, coral=False, requires_grad=False), targets).room
    assert weighted.item() != pytest.approx(plain.item())
    assert out.room.shape == (3, ROOMS)
