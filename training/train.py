"""The training loop, top to bottom: load data, build the model, train, validate, keep the best.

`train(config)` writes a run folder (training.run_folder: last.pt, best.pt, metrics.csv,
run.json). Every random process is seeded from `config.seed` and the epoch, so a resumed run
matches an uninterrupted one; `last.pt` records what identifies the run (recipe,
augmentation, training data, taxonomy), and a resume refuses a checkpoint of another run.
Each epoch writes its log row, last.pt, then best.pt when it improved (training.checkpoint);
run.json says whether the run finished, or was stopped (`stop_after_epoch`) to be resumed.

Everything that can be checked is checked before the run folder is touched: the device, the
folder itself, the manifest's rows and photo files (training.dataset_splits.check_rows), the
checkpoint to resume and its metrics log; the validation photos (and cached training photos)
are decoded. A refusal leaves an existing run as it was and creates no run folder. The folder
is first written once the first epoch has trained (or, on resume, where an interruption left
best.pt behind last.pt): a training photo that cannot be read, met in that epoch when photos
are not cached, leaves it as a refusal does.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from shanyraq import provenance
from shanyraq.errors import ConfigError
from shanyraq.taxonomy import Taxonomy, get_taxonomy
from training.checkpoint import (
    Loop,
    bring_best_up_to_date,
    checkpoint_state,
    restore,
    save_best,
)
from training.data import Targets, balanced_weights, epoch_seed, label_counts, model_input
from training.dataset_splits import DataSplits, load_splits
from training.loader import batches, build_loader, build_train_set
from training.losses import LossSettings, MultiHeadLoss
from training.recipe import TrainConfig
from training.resume import RunIdentity, taxonomy_record
from training.run_folder import (
    BEST,
    LAST,
    RunFolder,
    augmentation_record,
    check_run_folder,
    run_record,
)
from training.train_parts import SignLabelCount, build_optimizer, build_scheduler
from training.validation import Validation, validation_score
from vision.artifact import Preprocessing
from vision.model import ShanyraqNet, create_model, get_variant, model_preprocessing

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    best_model: Path
    best_score: float
    epochs_run: int
    stopped_early: bool
    splits: DataSplits  # the photos it trained and validated on, as checked before training
    # Trained to its last epoch or stopped early; False after `stop_after_epoch` (an
    # interruption), which export and the build refuse (run.json says so).
    finished: bool


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(preference: str) -> torch.device:
    """The recipe's device: "auto" is a CUDA GPU when there is one, else the CPU. An explicit
    "cuda" without one is refused: a recipe sized for a GPU would run for hours on the CPU."""
    if preference == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "the recipe asks for device 'cuda', but torch finds no CUDA GPU on this machine; "
            "set `device: auto` (the GPU when there is one, else the CPU) or `device: cpu`"
        )
    if preference == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def build_model(config: TrainConfig, taxonomy: Taxonomy) -> tuple[ShanyraqNet, Preprocessing]:
    m = config.model
    model = create_model(
        m.variant,
        taxonomy=taxonomy,
        condition_formulation=m.condition_formulation,
        pretrained_file=m.pretrained_file,
        drop_rate=m.drop_rate,
    )
    size = m.input_size or get_variant(m.variant).input_size
    return model, model_preprocessing(model, size=size)


def build_loss(
    config: TrainConfig, targets: Sequence[Targets], taxonomy: Taxonomy
) -> MultiHeadLoss:
    """The multi-head loss; class weights (when configured) from the training `targets`."""
    o = config.optim
    settings = LossSettings(
        condition_formulation=config.model.condition_formulation,
        not_dwelling_index=taxonomy.room_names.index(taxonomy.not_dwelling),
        label_smoothing=o.label_smoothing,
        ordinal_weight=o.ordinal_weight,
        room_weight=o.head_weights.room,
        condition_weight=o.head_weights.condition,
        signs_weight=o.head_weights.signs,
    )
    if o.class_balance != "weights":
        return MultiHeadLoss(settings)
    rooms = label_counts(targets, head="room", size=taxonomy.head_size("room"))
    grades = label_counts(targets, head="condition", size=taxonomy.head_size("condition"))
    return MultiHeadLoss(
        settings,
        room_class_weights=torch.tensor(balanced_weights(rooms), dtype=torch.float32),
        grade_weights=torch.tensor(balanced_weights(grades), dtype=torch.float32),
    )


def train_one_epoch(
    loop: Loop, loader: DataLoader, *, accumulation_steps: int, grad_clip_norm: float | None
) -> dict[str, float]:
    """Train one epoch. `train_loss` is the optimised loss's mean over the epoch's photos; each
    head's (`train_room`, ...) is its term's mean over the photos that head trained on, class
    weights weighing them as in the loss (NaN when it trained on none). A stream's epoch adds
    its sign labels drawn and dropped by augmentation, per sign (train_parts.SignLabelCount)."""
    loop.model.train()
    spec = loader.dataset.spec  # type: ignore[attr-defined]
    on_gpu = loop.device.type == "cuda"
    # bfloat16 needs no loss scaling; GPUs without it train in float32 rather than risk fp16.
    use_amp = on_gpu and torch.cuda.is_bf16_supported()
    totals = {"loss": 0.0, "room": 0.0, "condition": 0.0, "signs": 0.0}
    divisors = dict.fromkeys(totals, 0.0)  # what each total is a sum over
    seen, start = 0, time.perf_counter()
    loop.optimizer.zero_grad(set_to_none=True)
    bar = tqdm(batches(loader), total=len(loader), desc=f"epoch {loop.epoch + 1}", leave=False)
    sign_labels = SignLabelCount()
    for step, batch in enumerate(bar, start=1):
        sign_labels.add(batch)
        pixels = model_input(batch.pixels.to(loop.device, non_blocking=True), spec)
        if on_gpu:
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        targets = type(batch.targets)(*(t.to(loop.device) for t in batch.targets))
        with torch.autocast(loop.device.type, dtype=torch.bfloat16, enabled=use_amp):
            parts = loop.loss_fn(loop.model(pixels), targets)
        (parts.total / group_size(step, len(loader), accumulation_steps)).backward()
        if step % accumulation_steps == 0 or step == len(loader):
            _optimizer_step(loop, grad_clip_norm)
        n = pixels.shape[0]
        seen += n
        # A head's term is a mean over its own photos: a batch weighs by its term's divisor.
        weights = (n, parts.room_divisor, parts.condition_divisor, parts.signs_divisor)
        for key, value, weight in zip(totals, parts[:4], weights, strict=True):
            totals[key] += float(value.detach()) * float(weight)
            divisors[key] += float(weight)
        bar.set_postfix(loss=f"{totals['loss'] / seen:.3f}")
    seconds = time.perf_counter() - start
    out = {
        f"train_{k}": v / divisors[k] if divisors[k] > 0 else math.nan for k, v in totals.items()
    }
    out.update(images=seen, images_per_second=seen / seconds)
    out["lr"] = float(loop.scheduler.get_last_lr()[0])
    out.update(sign_labels.columns())  # a stream's sign labels drawn and dropped, per sign
    return out


def group_size(step: int, steps: int, accumulation_steps: int) -> int:
    """How many micro-batches the optimizer step that micro-batch `step` (1-based, of `steps`
    in the epoch) feeds sums: `accumulation_steps`, fewer in an epoch's last group when
    `steps` is not a multiple. Each micro-batch's loss is divided by it, so the last step of
    an epoch takes a mean gradient too, not one shrunk by the missing micro-batches."""
    first_of_last = steps - (steps - 1) % accumulation_steps  # the last group's first step
    return steps - first_of_last + 1 if step >= first_of_last else accumulation_steps


def _optimizer_step(loop: Loop, grad_clip_norm: float | None) -> None:
    if grad_clip_norm is not None:
        nn.utils.clip_grad_norm_(loop.model.parameters(), grad_clip_norm)
    loop.optimizer.step()
    loop.scheduler.step()
    loop.optimizer.zero_grad(set_to_none=True)
    if loop.ema is not None:
        # The optimizer step count (checkpointed with the scheduler): without it timm skips
        # the EMA's warm-up, and the first hundreds of steps average in the initial weights.
        loop.ema.update(loop.model, step=loop.scheduler.last_epoch)  # type: ignore[operator]


def build_loop(
    config: TrainConfig, model: ShanyraqNet, loss_fn: MultiHeadLoss, steps_per_epoch: int
) -> Loop:
    from timm.utils import ModelEmaV3

    device = pick_device(config.device)
    model = model.to(device)
    # Channels-last on GPU only. On CPU it made a training step 14 % faster but trained worse:
    # full demo builds reached test condition QWK 0.477-0.511 in 3 channels-last runs against
    # 0.539-0.555 in 3 runs without (training seeds 0-2 and 0-1); validation after 5 epochs was
    # 0.579-0.594 in 4 runs against 0.593-0.610 in 4; its gradients are 10x further from a
    # float64 reference (relative error 1e-3 against 1e-4).
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    o = config.optim
    optimizer = build_optimizer(model, lr=o.lr, weight_decay=o.weight_decay)
    scheduler = build_scheduler(
        optimizer,
        total_steps=steps_per_epoch * o.epochs,
        warmup_steps=round(steps_per_epoch * o.warmup_epochs),
    )
    # Warm-up decay step / (step + 1) (power 1): the running mean of the weights so far, which
    # reaches `ema_decay` after 1 / (1 - decay) steps (100 at 0.99). timm's default power 2/3
    # would hold the decay below 0.99 until step ~1,000, most of the demo's 1,368 steps.
    ema = (
        ModelEmaV3(model, decay=o.ema_decay, use_warmup=True, warmup_power=1.0)
        if o.ema_decay
        else None
    )
    return Loop(model, ema, optimizer, scheduler, loss_fn.to(device), device)


def train(
    config: TrainConfig, *, resume: bool = False, stop_after_epoch: int | None = None
) -> TrainResult:
    """Train a recipe; `stop_after_epoch` ends the run early (as an interruption would).

    Every check (see the module doc) comes before the run folder is created or changed.
    """
    taxonomy = get_taxonomy()
    run_dir = config.output_dir
    pick_device(config.device)  # refuses an absent GPU before any work
    check_run_folder(run_dir, resume=resume)
    seed_everything(config.seed)
    if config.loader.compute_threads:
        torch.set_num_threads(config.loader.compute_threads)
    splits = load_splits(config.data)
    model, spec = build_model(config, taxonomy)
    augmentation = augmentation_record(config.augment)  # as the pipeline is built, next line
    train_set = build_train_set(config, splits, spec, taxonomy)
    identity = RunIdentity(
        splits, train_set, augmentation, provenance.code_version(), taxonomy_record(taxonomy)
    )
    loader = build_loader(train_set, config)
    steps = math.ceil(len(loader) / config.optim.accumulation_steps)
    loop = build_loop(config, model, build_loss(config, train_set.targets, taxonomy), steps)
    variant = config.model.variant
    val = Validation.of(splits.val, splits.root, model, spec, variant=variant, taxonomy=taxonomy)
    if resume:
        restore(loop, run_dir / LAST, config=config, identity=identity)
    # Nothing above wrote to the run folder; its first write, after an epoch, makes it this run's
    # (or, on resume, best.pt left behind last.pt by an interruption: bring_best_up_to_date).
    with RunFolder(run_dir, resumed_after=loop.epoch if resume else None) as run:  # its lock
        if resume:
            bring_best_up_to_date(loop, run, variant=variant, preprocessing=spec)
        stopped_early = _stopped_before(loop, config)
        while not stopped_early and loop.epoch < config.optim.epochs:
            improved = _run_epoch(loop, config, loader, val, run, taxonomy)  # logs its row
            # last.pt, recording the best epoch, before best.pt: training.checkpoint says why.
            run.save_checkpoint(checkpoint_state(loop, config, identity=identity))
            if improved:
                save_best(loop, run, variant=variant, preprocessing=spec)
            stopped_early = _patience_spent(loop, config)
            if stopped_early or (stop_after_epoch is not None and loop.epoch >= stop_after_epoch):
                break
        finished = stopped_early or loop.epoch >= config.optim.epochs
        record = run_record(config, identity, spec, epochs_run=loop.epoch, finished=finished,
                            best_score=loop.best_score, log_rows=run.log.read())  # fmt: skip
        run.write_record(record)
    return TrainResult(run_dir, run_dir / BEST, loop.best_score, loop.epoch, stopped_early, splits,
                       finished)  # fmt: skip


def _patience_spent(loop: Loop, config: TrainConfig) -> bool:
    """Whether early stopping has fired: as many epochs without improvement as its patience."""
    patience = config.optim.early_stopping
    return patience is not None and loop.bad_epochs >= patience.patience


def _stopped_before(loop: Loop, config: TrainConfig) -> bool:
    """Whether a resumed run had already stopped early (then it trains no further)."""
    if not _patience_spent(loop, config):
        return False
    logger.info(
        "the run stopped early after epoch %d (%d epochs without improvement); nothing to train",
        loop.epoch,
        loop.bad_epochs,
    )
    return True


def _run_epoch(
    loop: Loop,
    config: TrainConfig,
    loader: DataLoader,
    val: Validation,
    run: RunFolder,
    taxonomy: Taxonomy,
) -> bool:
    """One epoch: seed, train, validate, log its row. True when it is the new best (the caller
    writes last.pt, then best.pt, after the row: its `seconds` are the epoch's training and
    validation, not those writes; a resume drops a row logged past its checkpoint)."""
    torch.manual_seed(epoch_seed(config.seed, loop.epoch))  # dropout, anything global
    loader.sampler.set_epoch(loop.epoch)  # type: ignore[attr-defined]
    start = time.perf_counter()
    stats = train_one_epoch(
        loop,
        loader,
        accumulation_steps=config.optim.accumulation_steps,
        grad_clip_norm=config.optim.grad_clip_norm,
    )
    loop.epoch += 1
    metrics = val.measure(
        loop.eval_model, taxonomy=taxonomy, batch_size=config.loader.eval_batch_size
    )
    score = validation_score(metrics)
    improved = loop.update_best(
        score,
        min_delta=config.optim.early_stopping.min_delta if config.optim.early_stopping else 0,
    )
    run.append_metrics(
        {
            "epoch": loop.epoch,
            **stats,
            "val_score": score,
            "val_room_macro_f1": metrics["room"]["macro_f1"],
            "val_condition_qwk": metrics["condition"].get("qwk", float("nan")),
            "val_signs_map": metrics["signs"]["map"],
            "seconds": time.perf_counter() - start,
        }
    )
    logger.info(
        "epoch %d: loss %.4f, val score %.4f%s",
        loop.epoch,
        stats["train_loss"],
        score,
        " (best)" if improved else "",
    )
    return improved
