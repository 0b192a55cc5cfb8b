"""A full disk under a folder and a lock held by another process, for the TensorRT cache tests."""

from __future__ import annotations

import errno
import fcntl
import io
import os
from pathlib import Path


def refuse_writes_under(monkeypatch, root: Path) -> None:
    """Every file opened for writing under `root` fails as on a full disk."""
    real_io_open, real_os_open = io.open, os.open

    def inside(path) -> bool:
        return not isinstance(path, int) and Path(path).resolve().is_relative_to(root.resolve())

    def io_open(file, mode="r", *args, **kwargs):
        if inside(file) and set(mode) & set("wax+"):
            raise OSError(errno.ENOSPC, "No space left on device", str(file))
        return real_io_open(file, mode, *args, **kwargs)

    def os_open(path, flags, *args, **kwargs):
        if inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(io, "open", io_open)
    monkeypatch.setattr(os, "open", os_open)


def locked_by_someone(path: Path) -> bool:
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
