"""A training run's state between epochs (`Loop`), what last.pt keeps of it, and a resume
from it, with best.pt kept the model of the best epoch that last.pt names.

An epoch ends with three writes, in this order: its metrics log row, last.pt, and best.pt
when the epoch improved. last.pt records the best epoch and its score, so a run interrupted
between the last two leaves a checkpoint that knows the true best, and whose weights are that
best (it is the epoch just checkpointed): the resume writes them to best.pt
(`bring_best_up_to_date`). The other order would leave in best.pt the model of an epoch that
the checkpoint a resume continues from knows nothing of: trained again (not exactly the same
on a GPU), that epoch may score less and leave best.pt a model no epoch of the log is, that a
later epoch scoring between the two replaces, and run.json's best score is not best.pt's.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from shanyraq.errors import ModelMismatchError
from training.losses import MultiHeadLoss
from training.recipe import TrainConfig
from training.resume import (
    RESUME_HINT,
    RunIdentity,
    check_same_run,
    checkpoint_errors,
    read_checkpoint,
)
from training.run_folder import BEST, RunFolder
from vision.artifact import Preprocessing
from vision.model import ShanyraqNet

logger = logging.getLogger(__name__)


@dataclass
class Loop:
    """The mutable state of one training run (everything a checkpoint holds)."""

    model: ShanyraqNet
    ema: nn.Module | None
    optimizer: torch.optim.AdamW
    scheduler: torch.optim.lr_scheduler.LambdaLR
    loss_fn: MultiHeadLoss
    device: torch.device
    epoch: int = 0
    best_score: float = -math.inf
    best_epoch: int = 0  # the epoch best.pt holds; 0: none yet (or an older checkpoint's)
    bad_epochs: int = 0

    @property
    def eval_model(self) -> ShanyraqNet:
        return self.ema.module if self.ema is not None else self.model  # type: ignore[return-value]

    def update_best(self, score: float, *, min_delta: float) -> bool:
        """Whether the epoch just trained, validated at `score`, is the new best."""
        if score > self.best_score + min_delta or self.best_score == -math.inf:
            self.best_score, self.best_epoch, self.bad_epochs = score, self.epoch, 0
            return True
        self.bad_epochs += 1
        return False


def checkpoint_state(loop: Loop, config: TrainConfig, *, identity: RunIdentity) -> dict[str, Any]:
    return {
        "model": loop.model.state_dict(),
        "model_ema": loop.ema.state_dict() if loop.ema is not None else None,
        "optimizer": loop.optimizer.state_dict(),
        "lr_scheduler": loop.scheduler.state_dict(),
        "epoch": loop.epoch,
        "best_score": loop.best_score,
        "best_epoch": loop.best_epoch,
        "bad_epochs": loop.bad_epochs,
        "config": config.model_dump(mode="json"),
        "identity": identity.at(loop.epoch),
        "taxonomy": identity.taxonomy,
    }


def restore(loop: Loop, path: Path, *, config: TrainConfig, identity: RunIdentity) -> None:
    """Continue from last.pt; a missing, damaged or foreign checkpoint is refused first."""
    state = read_checkpoint(path, map_location=loop.device)
    check_same_run(state, path, config=config, identity=identity)
    with checkpoint_errors(path, hint=RESUME_HINT):
        loop.model.load_state_dict(state["model"])
        if loop.ema is not None and state["model_ema"] is not None:
            loop.ema.load_state_dict(state["model_ema"])
        loop.optimizer.load_state_dict(state["optimizer"])
        loop.scheduler.load_state_dict(state["lr_scheduler"])
    loop.epoch, loop.best_score = state["epoch"], state["best_score"]
    loop.best_epoch = state.get("best_epoch", 0)  # not recorded by older checkpoints
    loop.bad_epochs = state["bad_epochs"]
    logger.info("resumed from %s after epoch %d", path, loop.epoch)


def save_best(loop: Loop, run: RunFolder, *, variant: str, preprocessing: Preprocessing) -> None:
    """best.pt: the model validation measures (the EMA weights when EMA is on)."""
    model = copy.deepcopy(loop.eval_model).cpu()
    run.save_best(model, variant=variant, preprocessing=preprocessing)


def bring_best_up_to_date(
    loop: Loop, run: RunFolder, *, variant: str, preprocessing: Preprocessing
) -> None:
    """After `restore`: where the checkpoint's own epoch is the best, best.pt must hold its
    weights; a run interrupted between writing last.pt and best.pt left the previous best
    there (or none), which is replaced. A best.pt that holds them already is not rewritten."""
    if loop.best_epoch == 0 or loop.best_epoch != loop.epoch:
        return  # best.pt was written in an earlier epoch, before that epoch's last.pt
    if holds_weights(run.path / BEST, loop.eval_model):
        return
    logger.warning(
        "%s does not hold the model of epoch %d, the best one its checkpoint records (the run "
        "was interrupted before writing it): written from the checkpoint",
        run.path / BEST,
        loop.epoch,
    )
    save_best(loop, run, variant=variant, preprocessing=preprocessing)


def holds_weights(path: Path, model: nn.Module) -> bool:
    """Whether the model.pt file at `path` holds `model`'s weights (False when it is missing,
    damaged or holds other weights)."""
    if not path.is_file():
        return False
    try:
        with checkpoint_errors(path, hint=RESUME_HINT):
            saved = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    except ModelMismatchError:
        return False
    ours = model.state_dict()
    return saved.keys() == ours.keys() and all(
        torch.equal(saved[k], v.detach().cpu()) for k, v in ours.items()
    )
