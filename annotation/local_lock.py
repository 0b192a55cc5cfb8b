"""A lock that one user's runs on this machine take turns on (flock on a file), removed after use.

The file lives in this user's cache folder ($XDG_CACHE_HOME, or ~/.cache, then shanyraq/locks),
where no other user makes files: in the shared temp folder another user could make it first (a
FIFO that the open waits on for ever, a file whose lock they hold). The run holding the lock
removes the file before letting go, so none is left behind. A run that was waiting then holds a
lock on a file that is gone; it sees that and opens the path again, as a later run does (making
a new file): without that look, it and the later run would both go on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no lock
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)


def lock_path(name: str) -> Path:
    """Where the lock file `name` goes: this user's cache folder, shanyraq/locks."""
    cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"
    return base / "shanyraq" / "locks" / name


def _acquire(path: Path, waiting: Callable[[], None]) -> int:
    """An open file holding the lock on the file now at `path`."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                waiting()
                fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            there = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            there = None  # removed by the run that held it
        except BaseException:
            os.close(fd)
            raise
        if there is not None and (there.st_dev, there.st_ino) == (held.st_dev, held.st_ino):
            return fd
        os.close(fd)  # removed by the run that held it while this one waited: open it again


@contextmanager
def local_lock(name: str, *, waiting: Callable[[], None]) -> Iterator[bool]:
    """Hold the lock `name` (a file name) for the body; `waiting()` is called when another run
    holds it. Where it cannot be had (no flock or home folder, a file system without locks)
    the body runs all the same, and this is logged. Yields whether the lock is held."""
    fd, path = None, None
    if fcntl is not None:
        try:
            path = lock_path(name)
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = _acquire(path, waiting)
        except (OSError, RuntimeError) as error:  # RuntimeError: no home folder known
            logger.info("no lock %s (%s); going on without it", name, error)
    try:
        yield fd is not None
    finally:
        if fd is not None and path is not None:
            try:
                path.unlink()  # while still held: see the module's docstring
            except OSError as error:  # left behind: the next run takes it as it is
                logger.info("cannot remove the lock file %s (%s)", path, error)
            os.close(fd)
