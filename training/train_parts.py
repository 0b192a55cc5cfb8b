"""The optimizer and learning-rate schedule of the training loop (training.train), and its
count of the sign labels a synthetic stream's augmentation dropped."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from shanyraq.taxonomy import get_taxonomy

# metrics.csv columns, one per sign: the epoch's sign labels drawn for its stream examples, and
# those of them dropped because augmentation moved the sign out of frame (training.synth.stream).
DRAWN_COLUMN, DROPPED_COLUMN = "sign_labels_drawn_", "sign_labels_dropped_"


def build_optimizer(model: nn.Module, *, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW; biases and norm parameters (1-D) are not decayed."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr)


def build_scheduler(
    optimizer: torch.optim.Optimizer, *, total_steps: int, warmup_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine decay to zero."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class SignLabelCount:
    """One epoch's sign labels, per sign: drawn for its examples and dropped by augmentation.

    A stream batch carries its examples' dropped labels (StreamExample.signs_dropped): counted
    in a loader worker, they would not reach the training process. A manifest's batches carry
    none (its labels are never dropped), and the epoch logs no such column."""

    def __init__(self) -> None:
        self.drawn: torch.Tensor | None = None
        self.dropped: torch.Tensor | None = None

    def add(self, batch: Any) -> None:
        dropped = getattr(batch, "signs_dropped", None)
        if dropped is None:
            return
        lost = dropped.to(torch.int64).sum(0)
        kept = (batch.targets.signs > 0.5).to(torch.int64).sum(0)  # labels trained on
        self.drawn = kept + lost if self.drawn is None else self.drawn + kept + lost
        self.dropped = lost if self.dropped is None else self.dropped + lost

    def columns(self) -> dict[str, int]:
        """The epoch's counts as metrics.csv columns (none when no batch carried them)."""
        if self.drawn is None or self.dropped is None:
            return {}
        names = get_taxonomy().sign_names
        out = {DRAWN_COLUMN + n: int(v) for n, v in zip(names, self.drawn.tolist(), strict=True)}
        out.update(
            {DROPPED_COLUMN + n: int(v) for n, v in zip(names, self.dropped.tolist(), strict=True)}
        )
        return out
