"""The training loss: one term per head, each over the examples that head is labelled for.

room: cross-entropy with label smoothing and optional class weights. condition: CORAL (binary
cross-entropy on "grade > k" for every threshold k) or softmax cross-entropy plus an ordinal
term (the expected distance in grades between prediction and truth). signs: binary
cross-entropy. A target of -1 (or a `not_dwelling` room) masks condition and signs, so those
photos train the room head only; a head with no labelled example in a batch (or only examples
of classes its class weights give 0) adds zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from training.data import IGNORE, Targets
from vision.model import ConditionFormulation, ModelOutput


@dataclass(frozen=True)
class LossSettings:
    condition_formulation: ConditionFormulation
    not_dwelling_index: int
    label_smoothing: float = 0.0
    ordinal_weight: float = 1.0  # softmax formulation only
    room_weight: float = 1.0
    condition_weight: float = 1.0
    signs_weight: float = 1.0


class LossParts(NamedTuple):
    """The loss and its head terms (detached). Each `*_divisor` is the sum of weights that
    head's term is a mean over in this batch: its labelled examples, each weighed by its class
    weight (without class weights, their number; 0 when the term is zeroed). An epoch's mean of
    a head's term weighs each batch by it (training.train.train_one_epoch), not by the batch's
    size: a head trains on only some of a batch's photos."""

    total: torch.Tensor
    room: torch.Tensor
    condition: torch.Tensor
    signs: torch.Tensor
    room_divisor: torch.Tensor
    condition_divisor: torch.Tensor
    signs_divisor: torch.Tensor


def coral_levels(grades: torch.Tensor, num_grades: int) -> torch.Tensor:
    """Grade index (N,) -> (N, K-1) binary targets: level k is 1 when grade > k."""
    thresholds = torch.arange(num_grades - 1, device=grades.device)
    return (grades.unsqueeze(1) > thresholds).float()


def coral_loss(logits: torch.Tensor, grades: torch.Tensor, *, smoothing: float) -> torch.Tensor:
    levels = coral_levels(grades, logits.shape[1] + 1)
    levels = levels * (1.0 - smoothing) + 0.5 * smoothing
    per_example = F.binary_cross_entropy_with_logits(logits, levels, reduction="none").sum(1)
    return per_example


def ordinal_softmax_loss(
    logits: torch.Tensor, grades: torch.Tensor, *, smoothing: float, ordinal_weight: float
) -> torch.Tensor:
    """Cross-entropy plus the expected |predicted - true| grade distance, per example."""
    ce = F.cross_entropy(logits, grades, label_smoothing=smoothing, reduction="none")
    num_grades = logits.shape[1]
    distance = (torch.arange(num_grades, device=logits.device) - grades.unsqueeze(1)).abs()
    expected = (logits.softmax(1) * distance).sum(1) / (num_grades - 1)
    return ce + ordinal_weight * expected


def _over_weight(weighted_sum: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """weighted_sum / sum(weights), as F.cross_entropy(weight=...) divides; zero when every
    weight is.

    The divisor is the weights' own sum, however small: class weights are mean 1, so a batch
    of common-grade photos can weigh under 1 in total. An all-zero batch (nothing labelled, or
    only classes the class weights give 0) divides by 1 and is then zeroed (the room term's
    label smoothing weighs the other classes, so its sum need not be 0), which keeps the value
    and its gradient zero instead of 0/0.
    """
    total = weights.sum()
    some = total > 0
    return weighted_sum / torch.where(some, total, torch.ones_like(total)) * some


def _masked_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum(w * v) / sum(w); zero when every weight is (see `_over_weight`)."""
    return _over_weight((values * weights).sum(), weights)


class MultiHeadLoss(nn.Module):
    """Sum of the three head terms, each averaged over its labelled examples."""

    def __init__(
        self,
        settings: LossSettings,
        *,
        room_class_weights: torch.Tensor | None = None,
        grade_weights: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.room_class_weights: torch.Tensor | None
        self.grade_weights: torch.Tensor | None
        self.register_buffer("room_class_weights", room_class_weights)
        self.register_buffer("grade_weights", grade_weights)

    def forward(self, out: ModelOutput, targets: Targets) -> LossParts:
        s = self.settings
        room = torch.as_tensor(targets.room, device=out.room.device)
        room_loss, room_divisor = self._room(out.room, room)
        dwelling = room != s.not_dwelling_index
        condition_loss, condition_divisor = self._condition(out.condition, targets, dwelling)
        known = (torch.as_tensor(targets.signs_known, device=out.signs.device) & dwelling).float()
        per_sign = F.binary_cross_entropy_with_logits(out.signs, targets.signs, reduction="none")
        signs_loss = _masked_mean(per_sign.mean(1), known)
        total = (
            s.room_weight * room_loss
            + s.condition_weight * condition_loss
            + s.signs_weight * signs_loss
        )
        return LossParts(
            total,
            room_loss.detach(),
            condition_loss.detach(),
            signs_loss.detach(),
            room_divisor,
            condition_divisor,
            known.sum(),
        )

    def _room(self, logits: torch.Tensor, room: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """F.cross_entropy's weighted mean (its label smoothing weights each class too), but
        zero rather than NaN when the labelled rooms' weights sum to zero; and its divisor."""
        labelled = (room != IGNORE).float()
        weights = labelled
        if self.room_class_weights is not None:
            weights = labelled * self.room_class_weights[room.clamp_min(0)]
        summed = F.cross_entropy(
            logits,
            room,
            weight=self.room_class_weights,
            ignore_index=IGNORE,
            label_smoothing=self.settings.label_smoothing,
            reduction="sum",
        )
        return _over_weight(summed, weights), weights.sum().detach()

    def _condition(
        self, logits: torch.Tensor, targets: Targets, dwelling: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.settings
        grades = torch.as_tensor(targets.condition, device=logits.device)
        labelled = (grades != IGNORE) & dwelling
        safe = grades.clamp_min(0)  # masked rows need a valid index; their weight is zero
        if s.condition_formulation == "coral":
            per_example = coral_loss(logits, safe, smoothing=s.label_smoothing)
        else:
            per_example = ordinal_softmax_loss(
                logits, safe, smoothing=s.label_smoothing, ordinal_weight=s.ordinal_weight
            )
        weights = labelled.float()
        if self.grade_weights is not None:
            weights = weights * self.grade_weights[safe]
        return _masked_mean(per_example, weights), weights.sum().detach()
