"""Who may touch a TensorRT engine cache folder (vision.trt_cache): the build lock a process
holds while it creates its session, and the pruning of folders unused for a while, which
removes only folders named as vision.trt_cache names them and never one whose lock is held.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: builds are not kept apart
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

LOCK_FILE = "build.lock"  # in each batch-profile folder; flock'ed while a session is created
# The folders vision.trt_cache makes; nothing else under the cache root is ever removed.
_KEY_FOLDER = re.compile(r"[0-9a-f]{12}-[a-z0-9-]{1,40}-[0-9a-f]{16}")
_PROFILE_FOLDER = re.compile(r"batch-1-to-[0-9]+-[0-9]+px")


@contextmanager
def engine_build_lock(provider_options: Iterable[Mapping[str, Any]]) -> Iterator[None]:
    """Hold the build lock of each TensorRT engine cache folder that `provider_options` (one
    mapping per provider, as InferenceSession takes them) name, while the caller creates its
    session. A second process on the same folder waits (saying so) and then loads the engine
    the first built, instead of building it again into the same files. Without a TensorRT
    cache among them (CPU, CUDA) nothing is locked or logged. Where the lock cannot be taken
    (a read-only cache, a file system without locks) the session is created without it."""
    folders = [
        Path(options["trt_engine_cache_path"])
        for options in provider_options
        if options.get("trt_engine_cache_enable") and options.get("trt_engine_cache_path")
    ]
    with ExitStack() as held:
        for folder in dict.fromkeys(folders):
            fd = _lock(folder)
            if fd is not None:
                held.callback(os.close, fd)  # closing the descriptor releases the lock
        yield


def _lock(folder: Path) -> int | None:
    """A descriptor holding `folder`'s build lock; None when it cannot be had."""
    if fcntl is None:
        return None
    path = folder / LOCK_FILE
    while True:
        fd = None
        try:
            folder.mkdir(parents=True, exist_ok=True)  # again, if pruned since it was made
            fd = _open_lock(path, create=True)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                logger.info(
                    "waiting for another process to finish creating the TensorRT engine in %s "
                    "(lock %s); it is then loaded, not built again", folder, path,
                )  # fmt: skip
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as error:  # a read-only cache, a file system without locks
            if fd is not None:
                os.close(fd)
            logger.info("cannot lock %s (%s); building without the lock", path, error.strerror)
            return None
        with suppress(OSError):
            mine, there = os.fstat(fd), os.stat(path)
            if (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino):
                return fd
        os.close(fd)  # the folder was pruned while this waited: lock the new one


def _open_lock(path: Path, *, create: bool) -> int:
    """Read-write where allowed (NFS emulates flock with POSIX locks, which need it), else
    read-only (another user's lock file, a read-only cache): a local flock needs no more."""
    try:
        return os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o666)
    except OSError as error:
        try:
            return os.open(path, os.O_RDONLY)
        except OSError:
            raise error from None


def prune_cache(root: Path, in_use: Path, *, unused_days: float) -> None:
    """Remove engine cache folders unused (unstamped) for `unused_days`: other models' key
    folders under `root`, and other batch profiles' beside `in_use` (root/<key>/<profile>).
    Only folders named as this module names them, never `in_use` or its key folder, never a
    symbolic link or what it points to, never one whose build lock another process holds."""
    if fcntl is None:  # without locks a folder being built could go
        return
    cutoff = time.time() - unused_days * 86400
    for keep, pattern in ((in_use.parent, _KEY_FOLDER), (in_use, _PROFILE_FOLDER)):
        try:
            names = os.listdir(keep.parent)
        except OSError:
            continue
        for name in names:
            if name != keep.name and pattern.fullmatch(name) and _stale(keep.parent / name, cutoff):
                _remove(keep.parent / name, cutoff, unused_days)


def _stale(path: Path, cutoff: float) -> bool:
    """A real folder (not a link to one) last stamped before `cutoff`."""
    try:
        found = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(found.st_mode) and found.st_mtime < cutoff


def _remove(folder: Path, cutoff: float, unused_days: float) -> None:
    with ExitStack() as held:
        try:
            inner = [Path(e.path) for e in os.scandir(folder) if e.is_dir(follow_symlinks=False)]
        except OSError:
            return
        for lock in (folder / LOCK_FILE, *(path / LOCK_FILE for path in inner)):
            try:
                fd = _open_lock(lock, create=False)
            except FileNotFoundError:
                continue  # never built under a lock
            except OSError:
                return
            held.callback(os.close, fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # being built or loaded now (or no locks here): keep it
                return
        if not _stale(folder, cutoff):  # stamped since it was listed: in use again
            return
        size = _tree_bytes(folder)
        try:
            shutil.rmtree(folder)  # never follows a link inside
        except OSError as error:
            logger.info("could not remove the old TensorRT engine cache %s: %s", folder, error)
            return
    logger.info(
        "removed the TensorRT engine cache %s (%.1f MB), unused for over %g days",
        folder, size / 1e6, unused_days,
    )  # fmt: skip


def _tree_bytes(folder: Path) -> int:
    walk = os.walk(folder)  # does not enter linked folders
    with suppress(OSError):
        return sum(
            os.lstat(os.path.join(top, name)).st_size for top, _, files in walk for name in files
        )
    return 0
