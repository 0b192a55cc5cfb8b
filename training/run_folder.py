"""A training run's folder: the files it holds, its checks before a run starts, and its first
write put off until the run has trained an epoch.

`last.pt` (full checkpoint dict for `resume=True`), `best.pt` (model.pt format, EMA weights
when EMA is on), `metrics.csv` (one line per epoch), `run.json` (what export and
evaluation need next: the recipe, and beside it the augmentation pipeline's contents as
loaded, since the recipe names it only; written when training ends) and `calibration.json`
(fitted on best.pt by the build, after training; removed whenever best.pt changes).

A run makes the folder its own (creates it; empties the metrics log and removes the run.json
of the run it replaces, or on resume drops the log's rows past the checkpoint) at its first
write, once its first epoch has trained. A failure before that (a refusal, a training photo
that cannot be read, an interruption) leaves an existing run as it was and creates no folder;
one after it leaves the epochs trained so far, which `--resume` continues.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from shanyraq.atomic import atomic_file
from shanyraq.errors import ConfigError
from shanyraq.outputs import check_output_folder
from training.augment import NO_AUGMENT, load_pipeline_config
from training.data import ManifestDataset
from training.dataset_splits import DataSplits
from training.metrics_log import MetricsLog
from training.recipe import TrainConfig
from training.resume import require_checkpoint, training_data_sha256
from training.synth.stream import SyntheticStream
from vision.artifact import Preprocessing
from vision.model import ShanyraqNet, save_model

LAST, BEST, RUN_JSON, METRICS_CSV = "last.pt", "best.pt", "run.json", "metrics.csv"
CALIBRATION_JSON = "calibration.json"


def check_run_folder(path: Path, *, resume: bool) -> None:
    """Refuse a run folder that cannot be made or written, and a resume with no checkpoint
    (read, and checked, once the model is built)."""
    check_output_folder(path, option="the recipe's output_dir", error=ConfigError)
    if resume:
        require_checkpoint(path / LAST)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_file(path) as tmp:  # a failure mid-write keeps the last whole checkpoint
        torch.save(state, tmp)


class RunFolder:
    """The folder of the run being trained; every write makes it the run's first."""

    def __init__(self, path: Path, *, resumed_after: int | None) -> None:
        """`resumed_after`: the epoch of the checkpoint a resumed run continues (None for a
        fresh run). Its metrics log is checked now (MetricsLogError), not after an epoch."""
        self.path = path
        self.log = MetricsLog(path / METRICS_CSV)
        self.resumed_after = resumed_after
        self.claimed = False
        if resumed_after is not None:
            self.log.read()

    def claim(self) -> None:
        """Make the folder this run's (once): create it, and start or continue the log."""
        if self.claimed:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        if self.resumed_after is None:
            self.log.path.unlink(missing_ok=True)
            # Another run's record: beside this run's best.pt, export would take it for its own.
            (self.path / RUN_JSON).unlink(missing_ok=True)
        else:
            self.log.truncate_after(self.resumed_after)
        self.claimed = True

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        self.claim()
        save_checkpoint(self.path / LAST, state)

    def save_best(self, model: ShanyraqNet, *, variant: str, preprocessing: Preprocessing) -> None:
        self.claim()
        # Fitted on the previous best.pt: it does not describe this one (the build refits it).
        (self.path / CALIBRATION_JSON).unlink(missing_ok=True)
        save_model(model, self.path / BEST, variant=variant, preprocessing=preprocessing)

    def append_metrics(self, row: dict[str, Any]) -> None:
        self.claim()
        self.log.append(row)

    def write_record(self, record: dict[str, Any]) -> None:
        self.claim()
        with atomic_file(self.path / RUN_JSON) as tmp:  # export reads it: whole or the last
            tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")


def augmentation_record(name: str) -> dict[str, Any]:
    """The augmentation pipeline `name` as run.json and model.json record it: its contents as
    loaded from configs/augment/NAME.yaml (None for "none") and their sha256, so a later edit
    of the file cannot pass for what a model was trained with."""
    pipeline = None if name == NO_AUGMENT else load_pipeline_config(name).model_dump(mode="json")
    canonical = json.dumps(pipeline, sort_keys=True, separators=(",", ":"))
    return {
        "name": name,
        "sha256": hashlib.sha256(canonical.encode()).hexdigest(),
        "pipeline": pipeline,
    }


def run_record(
    config: TrainConfig,
    splits: DataSplits,
    spec: Preprocessing,
    train_set: ManifestDataset | SyntheticStream,
    augmentation: dict[str, Any],
    *,
    epochs_run: int,
    best_score: float,
) -> dict[str, Any]:
    """What run.json holds after `epochs_run` epochs."""
    n_photos = {k: len(v) for k, v in asdict(splits).items() if isinstance(v, list)}
    info: dict[str, Any] = {
        "recipe": config.model_dump(mode="json"),
        "augmentation": augmentation,
        "manifest": str(splits.manifest.resolve()),
        "manifest_sha256": splits.manifest_sha256,
        "training_data_sha256": training_data_sha256(splits, train_set, epochs=epochs_run),
        "preprocessing": spec.model_dump(mode="json"),
        "epochs_run": epochs_run,
        "best_val_score": best_score,
        "n_photos": n_photos,
    }
    if isinstance(train_set, SyntheticStream):
        # Photos rendered for training, never stored (the same ones each epoch, or new ones).
        n_photos["train"] = train_set.n * (epochs_run if train_set.new_photos_each_epoch else 1)
        info["train_stream"] = train_set.description(epochs=epochs_run)
    return info
