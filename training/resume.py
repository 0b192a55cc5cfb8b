"""Resuming a training run: what identifies a run in its checkpoint, the refusal of a
checkpoint of another run (another recipe, augmentation file, training data or taxonomy), and
reading a checkpoint that may be damaged.

Which recipe keys may change on resume is decided in training/recipe.py (RESUMABLE_KEYS).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from shanyraq.config import default_configs_dir
from shanyraq.errors import ModelMismatchError, ShanyraqError
from shanyraq.taxonomy import Taxonomy
from training.augment import NO_AUGMENT, pipelines_dir
from training.data import ManifestDataset
from training.dataset_splits import DataSplits
from training.recipe import ABSENT, TrainConfig, changes_on_resume
from training.synth.stream import SyntheticStream, stream_sha256

logger = logging.getLogger(__name__)


class ResumeMismatchError(ShanyraqError):
    """A resume found a checkpoint of another run: another recipe, augmentation, data or
    taxonomy."""

    code = "resume_mismatch"


class NothingToResumeError(ShanyraqError):
    """A resume was asked for, but the run folder holds no checkpoint to continue."""

    code = "nothing_to_resume"


# What restore() reads from last.pt (train.checkpoint_state writes them).
CHECKPOINT_KEYS = ("model", "model_ema", "optimizer", "lr_scheduler", "epoch", "best_score",
                   "bad_epochs")  # fmt: skip
REASON_CHARS = 200  # of the underlying error, in a refusal


@contextmanager
def checkpoint_errors(path: Path, *, hint: str) -> Iterator[None]:
    """Whatever torch raises reading or applying the checkpoint at `path` (a damaged or
    truncated file, another kind of file, weights of another shape) becomes one
    ModelMismatchError that names the file, says why, and ends with `hint`."""
    try:
        yield
    # A GPU out of memory (not a MemoryError) says nothing of the file: called a damaged one,
    # the hint would have the user discard the run.
    except (ShanyraqError, MemoryError, torch.cuda.OutOfMemoryError):
        raise
    except Exception as exc:
        raise ModelMismatchError(
            f"{path} is not a readable checkpoint ({_reason(exc)}); {hint}"
        ) from None


# Where a weights-only load's refusal says its cause, after a preamble on how to load the file
# unsafely (with terminal escape codes) that would otherwise be all the reason shows.
_UNPICKLER_CAUSE = "WeightsUnpickler error:"


def _reason(exc: Exception) -> str:
    """The first line of the error, or its first sentence of cause after `_UNPICKLER_CAUSE`."""
    text = str(exc)
    if _UNPICKLER_CAUSE in text:
        text = text.split(_UNPICKLER_CAUSE, 1)[1]
        text = re.split(r"(?<=\.)\s", text.strip(), maxsplit=1)[0]
    lines = text.strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:REASON_CHARS]}" if lines else type(exc).__name__


RESUME_HINT = (
    "this run cannot be resumed from it: run without --resume to train afresh (it replaces "
    "this run's files)"
)


def require_checkpoint(path: Path) -> None:
    """Refuse a resume with no last.pt at `path`: it would train afresh and append to the old
    metrics.csv."""
    if not path.is_file():
        raise NothingToResumeError(
            f"nothing to resume: {path} not found (a run writes it after its first epoch); "
            "run without --resume to train afresh"
        )


def read_checkpoint(path: Path, *, map_location: torch.device) -> dict[str, Any]:
    """last.pt's state; a file that is missing, damaged or not a training checkpoint is refused
    (NothingToResumeError, ModelMismatchError) before anything of the run is touched."""
    require_checkpoint(path)
    with checkpoint_errors(path, hint=RESUME_HINT):
        state = torch.load(path, map_location=map_location, weights_only=True)
    missing = [k for k in CHECKPOINT_KEYS if k not in state] if isinstance(state, dict) else []
    if not isinstance(state, dict) or missing:
        what = (
            f"it has no {', '.join(missing)}" if missing else f"it holds a {type(state).__name__}"
        )
        raise ModelMismatchError(f"{path} is not a training checkpoint ({what}); {RESUME_HINT}")
    return state


def training_data_sha256(
    splits: DataSplits, train_set: ManifestDataset | SyntheticStream, *, epochs: int
) -> str:
    """The training-data hash run.json and model.json record: the manifest's sha256, or for a
    stream the hash of its settings, generator config and generator code after `epochs`
    epochs (training.synth.stream.stream_sha256)."""
    if isinstance(train_set, SyntheticStream):
        return stream_sha256(train_set.description(epochs=epochs), train_set.config)
    return splits.manifest_sha256


def taxonomy_record(taxonomy: Taxonomy) -> dict[str, Any]:
    """The taxonomy a run trains on, as last.pt and run.json record it: which label each
    output of the heads was trained on follows from it."""
    return {"version": taxonomy.version, "fingerprint": taxonomy.fingerprint()}


@dataclass(frozen=True)
class RunIdentity:
    """What makes a checkpoint this run's, beside its recipe and its taxonomy (`taxonomy`,
    saved beside the identity as the recipe is): saved in last.pt, compared on resume (the
    code version only warns: a fix between save and resume is a normal event)."""

    splits: DataSplits
    train_set: ManifestDataset | SyntheticStream
    augmentation: dict[str, Any]
    code_version: str
    taxonomy: dict[str, Any]  # taxonomy_record

    def at(self, epoch: int) -> dict[str, str]:
        """The identity as a checkpoint after `epoch` epochs records it."""
        identity = {
            "augmentation_sha256": self.augmentation["sha256"],
            "training_data_sha256": training_data_sha256(self.splits, self.train_set, epochs=epoch),
            "code_version": self.code_version,
        }
        if isinstance(self.train_set, SyntheticStream):  # the manifest holds validation only
            identity["manifest_sha256"] = self.splits.manifest_sha256
        return identity

    def source(self, field: str) -> str:
        """Where a field's value comes from, for the refusal's message."""
        name = self.augmentation["name"]
        pipeline = "no pipeline" if name == NO_AUGMENT else f"{pipelines_dir() / name}.yaml"
        return {
            "augmentation_sha256": f"augmentation '{name}', {pipeline}, or the code's seeding "
            "scheme (training.augment.SEEDING_SCHEME)",
            "training_data_sha256": "training stream's settings, generator config, or the "
            "generator's code (the modules of training.synth.stream.GENERATOR_CODE)"
            if isinstance(self.train_set, SyntheticStream)
            else f"training manifest, {self.splits.manifest}",
            "manifest_sha256": f"validation manifest, {self.splits.manifest}",
        }[field]

    def restore(self, field: str) -> str:
        """What to put back where a field differs, for the refusal's advice."""
        return {
            "augmentation_sha256": "the augmentation file with its seeding scheme",
            "training_data_sha256": "the stream's settings, generator config and generator code"
            if isinstance(self.train_set, SyntheticStream)
            else "the training manifest",
            "manifest_sha256": "the validation manifest",
        }[field]


def check_same_run(
    state: dict[str, Any], path: Path, *, config: TrainConfig, identity: RunIdentity
) -> None:
    """Refuse a checkpoint of another run, naming every difference (one line, for the CLI).

    Which recipe keys may change is decided in training/recipe.py (RESUMABLE_KEYS). What a
    checkpoint from older code did not record is resumed unchecked, with a warning.
    """
    differences = _recipe_differences(state.get("config"), config, path)
    restore = ["the recipe"] if differences else []
    if taxonomy := _taxonomy_difference(state.get("taxonomy"), identity.taxonomy, path):
        differences.append(taxonomy)
        restore.append("the taxonomy")
    saved = state.get("identity")
    if saved is None:
        logger.warning(
            "%s was written by an older Shanyraq that did not record its augmentation, training "
            "data and code version: they cannot be checked against this run's; resuming "
            "unchecked",
            path,
        )
    else:
        now = identity.at(state["epoch"])
        unrecorded = [field for field in now if field not in saved]
        if unrecorded:
            logger.warning(
                "%s was written by an older Shanyraq that did not record %s: not checked "
                "against this run's; resuming unchecked",
                path,
                ", ".join(unrecorded),
            )
        differing = [f for f in now if f != "code_version" and f in saved and saved[f] != now[f]]
        differences += [
            f"{field} ({identity.source(field)}) {saved[field]} -> {now[field]}"
            for field in differing
        ]
        restore += [identity.restore(field) for field in differing]
        if "code_version" in saved and saved["code_version"] != now["code_version"]:
            logger.warning(
                "%s was written by code %s; resuming with code %s",
                path,
                saved["code_version"],
                now["code_version"],
            )
    if differences:
        raise ResumeMismatchError(
            f"{path} is a checkpoint of another run: " + "; ".join(differences) + ". To train "
            "what is configured now, run without --resume (it starts afresh and replaces this "
            "run's files) or give the recipe another output_dir; to continue this run, restore "
            f"{_listed(restore)} it was trained with"
        )


def _taxonomy_difference(
    saved: dict[str, Any] | None, now: dict[str, Any], path: Path
) -> str | None:
    """The refusal's words for another taxonomy than the checkpoint's (None: the same). With
    the heads' sizes unchanged (labels re-ordered or renamed), the weights load, and the
    outputs would go on training on other labels than the epochs before."""
    if saved is None:
        logger.warning(
            "%s was written by an older Shanyraq that did not record the taxonomy: not "
            "checked against this run's; resuming unchecked",
            path,
        )
        return None
    saved = saved if isinstance(saved, dict) else {}  # a damaged record differs
    if saved.get("fingerprint") == now["fingerprint"]:
        return None
    shown = [f"version {t.get('version')} ({str(t.get('fingerprint'))[:12]})" for t in (saved, now)]
    return f"taxonomy ({default_configs_dir() / 'taxonomy.yaml'}) {shown[0]} -> {shown[1]}"


def _listed(items: list[str]) -> str:
    """'a', 'a and b', 'a, b, and c' (each item may hold an 'and' of its own)."""
    if len(items) < 3:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def _recipe_differences(saved: dict[str, Any] | None, config: TrainConfig, path: Path) -> list[str]:
    if saved is None:
        logger.warning("%s holds no recipe: the recipe cannot be checked; resuming unchecked", path)
        return []
    return [
        f"recipe {key} {_shown(old)} -> {_shown(new)}"
        + (" (the length of the cosine learning-rate schedule)" if key == "optim.epochs" else "")
        for key, (old, new) in changes_on_resume(saved, config).items()
    ]


def _shown(value: Any) -> str:
    return value if value is ABSENT else json.dumps(value)
