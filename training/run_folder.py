"""A training run's folder: the files it holds, its checks before a run starts, and its first
write put off until the run has trained an epoch.

`last.pt` (full checkpoint dict for `resume=True`), `best.pt` (model.pt format, EMA weights
when EMA is on), `metrics.csv` (one line per epoch, logged before that epoch's checkpoints are
written: its `seconds` cover training and validation, not saving last.pt or best.pt),
`run.json` (what export and evaluation need next: the recipe, and beside it the augmentation
pipeline's contents as loaded, since the recipe names it only; for a synthetic stream, how
many sign labels its augmentation dropped, summed from the log; written when training ends,
`finished` false when it was stopped before its last epoch, which export and the build
refuse) and `calibration.json` (fitted on best.pt by the build, after training; removed
whenever best.pt changes).

A run makes the folder its own (creates it; removes the metrics log, checkpoints, calibration
and run.json of the run it replaces, or on resume drops the log's rows past the checkpoint) at
its first write, once its first epoch has trained. A failure before that (a refusal, a training
photo that cannot be read, an interruption) leaves an existing run as it was and creates no
folder; one after it leaves the epochs checkpointed so far, which `--resume` continues.

One run at a time trains in a folder: two resumes of a run (or a resume and a fresh run) would
write the same checkpoints and metrics log. A RunFolder holds a lock on the folder (flock on
the folder itself, so it adds no file) from when the folder exists until it is closed (`with
RunFolder(...)`: train() closes it however it ends); check_run_folder refuses at once a run
whose folder another holds (RunFolderBusyError). The kernel drops the lock with the process,
however it ends: a crash leaves no stale lock. A forked child (a DataLoader worker) closes its
copy of the folder's descriptor at once, so the lock is not kept after release() by a worker
that outlives it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from shanyraq.atomic import atomic_file
from shanyraq.errors import ConfigError, OutputExistsError
from shanyraq.outputs import check_output_folder
from training.augment import NO_AUGMENT, load_pipeline_config
from training.metrics_log import MetricsLog
from training.recipe import TrainConfig
from training.resume import RunIdentity, require_checkpoint, training_data_sha256
from training.synth.stream import SyntheticStream
from training.train_parts import DRAWN_COLUMN, DROPPED_COLUMN
from vision.artifact import Preprocessing
from vision.model import ShanyraqNet, save_model

try:
    import fcntl
except ImportError:  # not POSIX: no folder lock
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

LAST, BEST, RUN_JSON, METRICS_CSV = "last.pt", "best.pt", "run.json", "metrics.csv"
CALIBRATION_JSON = "calibration.json"

# flock where the file system cannot lock a folder (some network mounts; NFS emulates flock
# with write locks, which a folder opened for reading cannot take): the run goes on unlocked.
_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.EBADF})


# The descriptors holding a folder's lock in this process. flock's lock belongs to the open
# file, which a forked child shares: a DataLoader worker still alive after release() (a crashed
# run's, kept by its traceback) would keep the folder locked until it exits, and the next run
# in it would be refused as busy. The child closes its copies, which leaves the lock with this
# process (closing is not unlocking: flock(LOCK_UN) on a copy would free it for everyone).
_HELD_FDS: set[int] = set()


def _close_inherited() -> None:
    for fd in _HELD_FDS:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD_FDS.clear()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_close_inherited)


class RunFolderBusyError(OutputExistsError):
    """Another training run (a resume or a fresh run) is writing into the same run folder."""

    code = "run_busy"


def check_run_folder(path: Path, *, resume: bool) -> None:
    """Refuse a run folder that cannot be made or written, one another run is training in,
    and a resume with no checkpoint (read, and checked, once the model is built)."""
    check_output_folder(path, option="the recipe's output_dir", error=ConfigError)
    if path.is_dir() and (fd := _flock(path, quiet=True)) is not None:
        _unlock(fd)  # free: the RunFolder takes the lock to keep
    if resume:
        require_checkpoint(path / LAST)


def _busy(path: Path) -> RunFolderBusyError:
    return RunFolderBusyError(
        f"another training run is writing into {path} (a resume or a fresh run of the same "
        "output_dir); wait for it to finish or stop it, then run this again (with --resume to "
        "continue that run), or give the recipe another output_dir"
    )


def _flock(path: Path, *, quiet: bool = False) -> int | None:
    """An open descriptor of the folder `path` holding its lock (None, with a warning unless
    `quiet`, where the file system cannot lock it); RunFolderBusyError when another holds it."""
    if fcntl is None:
        return None
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise _busy(path) from None
    except OSError as exc:
        os.close(fd)
        if exc.errno not in _NO_LOCKS:
            raise
        if not quiet:
            logger.warning("%s cannot be locked (%s); two runs in it are not kept apart", path, exc)
        return None
    _HELD_FDS.add(fd)
    return fd


def _unlock(fd: int) -> None:
    """Close the descriptor `_flock` gave, freeing the folder's lock (in a forked child, where
    it is closed already, nothing: the number may since name another file)."""
    if fd in _HELD_FDS:
        _HELD_FDS.discard(fd)
        os.close(fd)


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
        self.locked = False
        self._fd: int | None = None  # the folder's, holding its lock
        try:
            if path.is_dir():  # else locked once claim() makes it
                self._lock()
            if resumed_after is not None:
                self.log.read()
        except BaseException:
            self.release()
            raise

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _lock(self) -> None:
        """Hold the folder's lock (RunFolderBusyError when another run holds it)."""
        if not self.locked:
            self._fd, self.locked = _flock(self.path), True

    def release(self) -> None:
        """Free the folder's lock for another run (this one writes no more)."""
        if self._fd is not None:
            _unlock(self._fd)
        self._fd, self.locked = None, False

    def claim(self) -> None:
        """Make the folder this run's (once): create it, and start or continue the log."""
        if self.claimed:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock()
        if self.resumed_after is None:
            # The replaced run's files. Its last.pt, left until this run writes its own (after
            # the epoch's log row), would be resumed after a failure between them: the old run
            # continued beside this run's log. Its best.pt, left until this run writes its own
            # (after last.pt), would be taken for this run's best. Its record, beside this
            # run's best.pt, export would take for this run's.
            for name in (LAST, BEST, CALIBRATION_JSON, RUN_JSON, METRICS_CSV):
                (self.path / name).unlink(missing_ok=True)
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
    identity: RunIdentity,
    spec: Preprocessing,
    *,
    epochs_run: int,
    best_score: float,
    finished: bool,
    log_rows: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """What run.json holds after `epochs_run` epochs; `log_rows` is the run's metrics log;
    `finished`: trained to its last epoch or stopped early, not stopped to be resumed.

    Beside the recipe and the data it trained on, the code and taxonomy it trained with (a
    resumed run: the code of its last epochs): a later export stamps model.json with its own
    code version and configs' taxonomy."""
    splits, train_set = identity.splits, identity.train_set
    n_photos = {k: len(v) for k, v in asdict(splits).items() if isinstance(v, list)}
    info: dict[str, Any] = {
        "recipe": config.model_dump(mode="json"),
        "augmentation": identity.augmentation,
        "manifest": str(splits.manifest.resolve()),
        "manifest_sha256": splits.manifest_sha256,
        "training_data_sha256": training_data_sha256(splits, train_set, epochs=epochs_run),
        "preprocessing": spec.model_dump(mode="json"),
        "epochs_run": epochs_run,
        "finished": finished,
        "best_val_score": best_score,
        "n_photos": n_photos,
        "code_version": identity.code_version,
        "taxonomy": identity.taxonomy,
    }
    if isinstance(train_set, SyntheticStream):
        # Photos rendered for training, never stored (the same ones each epoch, or new ones).
        n_photos["train"] = train_set.n * (epochs_run if train_set.new_photos_each_epoch else 1)
        info["train_stream"] = train_set.description(epochs=epochs_run)
        info["train_stream_sign_labels"] = sign_label_record(log_rows or [], epochs_run)
    return info


def sign_label_record(rows: list[dict[str, str]], epochs_run: int) -> dict[str, Any]:
    """A stream's sign labels over the logged epochs up to `epochs_run`, per sign: `drawn`
    for its examples and `dropped` (not trained on) because augmentation moved the sign out of
    frame; `examples` seen in those epochs. A row without the counts (logged by an older
    version before a resume) is left out: `epochs_counted` says how many epochs they cover."""
    drawn: dict[str, int] = {}
    dropped: dict[str, int] = {}
    epochs = examples = 0
    for row in rows:
        counts = {k: v for k, v in row.items() if k.startswith((DRAWN_COLUMN, DROPPED_COLUMN))}
        if int(row["epoch"]) > epochs_run or not counts or "" in counts.values():
            continue
        epochs, examples = epochs + 1, examples + int(row["images"])
        for key, value in counts.items():
            into = dropped if key.startswith(DROPPED_COLUMN) else drawn
            name = key.removeprefix(DROPPED_COLUMN).removeprefix(DRAWN_COLUMN)
            into[name] = into.get(name, 0) + int(value)
    return {"epochs_counted": epochs, "examples": examples, "drawn": drawn, "dropped": dropped}
