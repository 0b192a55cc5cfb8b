"""Review 20: the room term's weighted mean (zero-weight rooms), and CORAL against serving."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.data import IGNORE, Targets, balanced_weights, label_counts
from training.losses import LossSettings, MultiHeadLoss, coral_loss
from vision.heads import coral_to_probs
from vision.model import ModelOutput

ROOMS, GRADES, SIGNS, ND = 6, 5, 8, 5


def _targets(rooms: list[int]) -> Targets:
    n = len(rooms)
    return Targets(
        torch.tensor(rooms), torch.full((n,), IGNORE), torch.zeros(n, SIGNS), torch.zeros(n) > 0
    )


def _output(n: int, *, seed: int = 0) -> ModelOutput:
    g = torch.Generator().manual_seed(seed)

    def t(*shape: int) -> torch.Tensor:
        return (2 * torch.randn(*shape, generator=g)).requires_grad_(True)

    return ModelOutput(t(n, ROOMS), t(n, GRADES - 1), t(n, SIGNS), t(n, 4))


def _room_weights_without(missing: int) -> torch.Tensor:
    # Class weights giving room `missing` 0 (balanced_weights no longer does for a room the
    # counts lack, but a caller's weights may): the loss must still add zero, not NaN.
    seen = [r for r in range(ROOMS) for _ in range(r + 2) if r != missing]
    photos = [Targets(r, IGNORE, torch.zeros(SIGNS), False) for r in seen]
    counts = label_counts(photos, head="room", size=ROOMS)
    weights = torch.tensor(balanced_weights(counts), dtype=torch.float32)
    weights[missing] = 0
    return weights


def _loss(weights: torch.Tensor, smoothing: float) -> MultiHeadLoss:
    settings = LossSettings(
        condition_formulation="coral", not_dwelling_index=ND, label_smoothing=smoothing
    )
    return MultiHeadLoss(settings, room_class_weights=weights)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_batch_of_only_zero_weight_rooms_adds_zero_not_nan(smoothing):
    # F.cross_entropy(weight=...) divides by the labelled rows' weights: 0/0 = NaN here, which
    # (no finiteness guard before the optimizer step) would turn every parameter into NaN.
    out = _output(3)
    parts = _loss(_room_weights_without(1), smoothing)(out, _targets([1, IGNORE, 1]))
    assert parts.room.item() == 0.0
    assert torch.isfinite(parts.total)
    parts.total.backward()
    assert out.room.grad is not None
    assert torch.isfinite(out.room.grad).all() and out.room.grad.abs().sum() == 0


def _by_hand(logits: torch.Tensor, rooms: list[int], w: torch.Tensor, eps: float) -> float:
    """Per the torch docs: smoothed targets (1-eps)*onehot + eps/C, each class weighted by its
    weight, summed over labelled rows, over the sum of their target classes' weights."""
    logp = logits.detach().double().log_softmax(1).numpy()
    weights = w.double().numpy()
    num = den = 0.0
    for row, room in enumerate(rooms):
        if room == IGNORE:
            continue
        target = np.full(ROOMS, eps / ROOMS)
        target[room] += 1 - eps
        num += -(target * weights * logp[row]).sum()
        den += weights[room]
    return num / den


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("rooms", [[0, 1, 3], [1, 2, IGNORE, 1], [4, ND, 1]], ids=str)
def test_weighted_room_loss_matches_a_hand_computation(rooms, smoothing):
    # Zero-weight rooms beside others keep the usual weighted mean (their smoothing term
    # counts; their own weight does not).
    weights = _room_weights_without(1)
    out = _output(len(rooms), seed=2)
    parts = _loss(weights, smoothing)(out, _targets(rooms))
    expected = _by_hand(out.room, rooms, weights, smoothing)
    assert parts.room.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("grade", range(GRADES))
def test_coral_loss_minimum_decodes_to_the_true_grade_at_serving(grade):
    # Fit the cumulative logits to one grade with the training loss alone, then decode them
    # as evaluation and the engine do: the fitted logits must put their mass on that grade.
    logits = torch.zeros(1, GRADES - 1, requires_grad=True)
    optimizer = torch.optim.SGD([logits], lr=1.0)
    for _ in range(200):
        optimizer.zero_grad()
        coral_loss(logits, torch.tensor([grade]), smoothing=0.1).sum().backward()
        optimizer.step()
    probs = coral_to_probs(logits.detach().numpy())[0]
    assert int(probs.argmax()) == grade
    assert probs[grade] > 0.8
