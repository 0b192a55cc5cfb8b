"""Review 22: each head's logged epoch loss is its mean over the photos that head trained on.

It weighed every batch by its size, whatever number of the batch's photos the head trained on:
a batch of one dwelling photo and two `not_dwelling` photos counted its one condition loss
three times. The expected figures here come from the loss of each photo alone (a batch of
one), so they do not depend on how train_one_epoch adds batches up.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from training.data import IGNORE, Example, Targets
from training.losses import LossSettings, MultiHeadLoss
from training.train import Loop, train_one_epoch
from vision.artifact import Preprocessing
from vision.model import ModelOutput

ROOMS, GRADES, SIGNS, ND = 4, 5, 3, 3  # room 3 is not_dwelling


class _Batches(Dataset):
    """Whole batches, in order (a DataLoader with batch_size=None yields them as they are)."""

    spec = Preprocessing(size=2, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))

    def __init__(self, batches: list[Example]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> Example:
        return self.batches[index]


class _Fixed(nn.Module):
    """Gives each batch the logits set for it, in order, whatever the pixels and steps."""

    def __init__(self, outputs: list[ModelOutput]) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))  # something for the optimizer to hold
        self.outputs, self.calls = outputs, 0

    def forward(self, pixels: torch.Tensor) -> ModelOutput:
        out = self.outputs[self.calls]
        self.calls += 1
        return ModelOutput(*(t + 0 * self.unused for t in out[:3]), out.embedding)


def _targets(rooms: list[int], grades: list[int], known: list[bool]) -> Targets:
    n = len(rooms)
    signs = (torch.arange(n * SIGNS).reshape(n, SIGNS) % 2).float()
    return Targets(torch.tensor(rooms), torch.tensor(grades), signs, torch.tensor(known))


def _output(n: int, seed: int) -> ModelOutput:
    g = torch.Generator().manual_seed(seed)
    return ModelOutput(
        torch.randn(n, ROOMS, generator=g) * 3,
        torch.randn(n, GRADES - 1, generator=g) * 3,
        torch.randn(n, SIGNS, generator=g) * 3,
        torch.zeros(n, 1),
    )


# Batch 1: one dwelling photo labelled for every head, two not_dwelling photos (room only).
# Batch 2: three dwelling photos, condition and signs labelled on two of them.
BATCHES = [
    _targets([0, ND, ND], [4, IGNORE, IGNORE], [True, False, False]),
    _targets([1, 2, 0], [0, IGNORE, 1], [True, True, False]),
]


def _one(targets: Targets, i: int) -> Targets:
    return Targets(*(t[i : i + 1] for t in targets))


def _out_one(out: ModelOutput, i: int) -> ModelOutput:
    return ModelOutput(*(t[i : i + 1] for t in out))


def _expected(
    loss_fn: MultiHeadLoss, batches: list[Targets], outputs: list[ModelOutput]
) -> dict[str, float]:
    """Each head: sum(w * loss) / sum(w) over the photos it trained on, photo by photo."""
    sums = {"room": 0.0, "condition": 0.0, "signs": 0.0}
    weights = dict.fromkeys(sums, 0.0)
    grade_w, room_w = loss_fn.grade_weights, loss_fn.room_class_weights
    for targets, out in zip(batches, outputs, strict=True):
        for i in range(len(targets.room)):
            parts = loss_fn(_out_one(out, i), _one(targets, i))
            room, grade = int(targets.room[i]), int(targets.condition[i])
            dwelling = room != ND
            trained = {
                "room": float(room_w[room]) if room_w is not None else 1.0,
                "condition": 0.0
                if grade == IGNORE or not dwelling
                else (float(grade_w[grade]) if grade_w is not None else 1.0),
                "signs": float(bool(targets.signs_known[i]) and dwelling),
            }
            for head, w in trained.items():
                sums[head] += w * float(getattr(parts, head))
                weights[head] += w
    return {f"train_{h}": sums[h] / weights[h] for h in sums}


def _epoch(
    loss_fn: MultiHeadLoss, batches: list[Targets], outputs: list[ModelOutput]
) -> dict[str, float]:
    model = _Fixed(outputs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    loop = Loop(model, None, optimizer, scheduler, loss_fn, torch.device("cpu"))  # type: ignore[arg-type]
    examples = [Example(torch.zeros(len(t.room), 2, 2, 3, dtype=torch.uint8), t) for t in batches]
    loader = DataLoader(_Batches(examples), batch_size=None)
    return train_one_epoch(loop, loader, accumulation_steps=1, grad_clip_norm=None)


@pytest.mark.parametrize("weighted", [False, True])
def test_each_head_logs_its_mean_over_the_photos_it_trained_on(weighted):
    settings = LossSettings(
        condition_formulation="coral", not_dwelling_index=ND, label_smoothing=0.1
    )
    kw = {}
    if weighted:  # mean 1, as training.data.balanced_weights makes them
        kw = {
            "room_class_weights": torch.tensor([0.5, 1.5, 1.2, 0.8]),
            "grade_weights": torch.tensor([2.0, 0.5, 1.0, 0.75, 0.75]),
        }
    loss_fn = MultiHeadLoss(settings, **kw)
    outputs = [_output(3, 1), _output(3, 2)]
    logged = _epoch(loss_fn, BATCHES, outputs)
    expected = _expected(loss_fn, BATCHES, outputs)
    for key, value in expected.items():
        assert logged[key] == pytest.approx(value, rel=1e-5), key
    # What is optimised is unchanged: train_loss is still the batches' total, by photo.
    totals = [float(loss_fn(o, t).total) for o, t in zip(outputs, BATCHES, strict=True)]
    assert logged["train_loss"] == pytest.approx(sum(totals) / 2, rel=1e-5)


def test_a_head_that_trained_on_no_photo_logs_nan_not_zero():
    # Only not_dwelling photos: condition and signs trained on nothing, a loss of 0 would
    # read as a perfect head.
    batches = [_targets([ND, ND], [IGNORE, IGNORE], [False, False])]
    settings = LossSettings(condition_formulation="coral", not_dwelling_index=ND)
    logged = _epoch(MultiHeadLoss(settings), batches, [_output(2, 3)])
    assert math.isnan(logged["train_condition"]) and math.isnan(logged["train_signs"])
    assert logged["train_room"] > 0
