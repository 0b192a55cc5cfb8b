"""One re-scoring command per model version at a time: a lock file in the data folder.

`shanyraq rescore`, `rescore discard`, `rescore promote` and the Ray pipeline
(serving/rescore_ray.py) each hold it while they work, so a promotion never adopts part of a run
that is being scored, reopened or deleted. The lock is `flock` on `<data_dir>/.rescore-<digest
of the model version>.lock`; the kernel releases it when the process ends however it ends, so a
crash leaves no stale lock. The file names its holder (process, host, start, and the command or
entry point where it gave one), which a second command's refusal (`rescore_busy`) repeats
before it does anything. The database keeps its own guard behind this one (the run's cursor is
advanced compare-and-set, serving/rescore.py), for runs on other machines against one
PostgreSQL database. Where the data folder cannot be written, only that guard is left, and a
warning says so.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from serving.rescore_runs import RescoreBusyError

logger = logging.getLogger(__name__)


def lock_path(data_dir: Path, model_version: str) -> Path:
    digest = hashlib.sha256(model_version.encode()).hexdigest()[:16]
    return data_dir / f".rescore-{digest}.lock"


@contextmanager
def rescore_lock(
    data_dir: Path,
    model_version: str,
    *,
    runs: Callable[[], str] | None = None,
    command: str | None = None,
    entry_point: str | None = None,
) -> Iterator[None]:
    """Hold the re-scoring lock of `model_version`, or RescoreBusyError naming its holder (with
    its `command`, e.g. "rescore promote", or the Python `entry_point` of a holder that has no
    command, where it gave one) and `runs()` (the model version's unfinished runs, in words)
    when another process holds it."""
    path = lock_path(data_dir, model_version)
    try:
        fd = _acquire(path)
    except OSError as exc:
        logger.warning(
            "cannot lock %s (%s): only the database will stop a second re-scoring of %s",
            path, exc.strerror, model_version,
        )  # fmt: skip
        yield
        return
    if fd is None:
        raise RescoreBusyError(_busy(path, model_version, runs() if runs else ""))
    try:
        holder = {
            "pid": os.getpid(), "host": socket.gethostname(), "model_version": model_version,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
        }  # fmt: skip
        if command or entry_point:
            holder["command"] = f"shanyraq {command}" if command else str(entry_point)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(holder).encode())
        yield
    finally:
        _unlink_own(path, fd)  # before the lock goes: a newcomer then makes a new file
        os.close(fd)


def _acquire(path: Path) -> int | None:
    """An open descriptor of `path` holding its lock; None when another process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # its holder removed this file as it finished: lock the new one


def _unlink_own(path: Path, fd: int) -> None:
    """Remove `path` if it is still the file `fd` locks. Someone may have deleted it meanwhile
    (taking it for a stale lock) and another command then made and locked a new one: removing
    that one would let a third run beside it."""
    try:
        mine, there = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return
    if (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino):
        path.unlink(missing_ok=True)


def _busy(path: Path, model_version: str, runs: str) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        who = f"process {holder['pid']} on {holder['host']}, started {holder['started']}"
        if holder.get("command"):
            who = f"`{holder['command']}`: {who}"
    except (OSError, ValueError, KeyError, TypeError):  # it is writing its name right now
        who = "a process that is starting"
    return (
        f"another re-scoring under {model_version} is running ({who}"
        + (f"; {runs}" if runs else "")
        + f"; lock {path}). One re-scoring command (rescore, rescore discard, rescore promote, "
        "the Ray pipeline) runs per model version at a time: wait for that one to finish (or "
        "stop it: a re-scoring stopped part-way resumes where it stopped), then run this "
        "command again"
    )
