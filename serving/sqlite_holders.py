"""Who else has a SQLite WAL database open (`shanyraq db upgrade`, serving/db_upgrade.py).

Every connection of a WAL database holds a read lock on one byte of the -shm file while it is
open (`SQLITE_SHM_DMS_BYTE`). The kernel is asked who holds it, without locking or writing
anything: /proc/locks lists every holder (matched by the -shm file's device and inode), and
F_GETLK, as SQLite itself asks, names one (the only answer where /proc/locks cannot be read,
and one not visible from here, e.g. in another container, as process 0). Linux only (the
layout of `struct flock`): elsewhere, or where the kernel does not answer,
serving.db_upgrade.DatabaseInUseError saying so.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

from shanyraq.shell_words import config_option, word

# SQLite's unix VFS: every connection of a WAL database holds a read lock on this byte of the
# -shm file while it is open (UNIX_SHM_DMS in os_unix.c: (22 + 8) * 4 + 8).
SQLITE_SHM_DMS_BYTE = 128
# Every file lock of the system, one a line (Linux, fs/locks.c): "1: POSIX  ADVISORY  READ
# 1234 fe:00:2565499 128 128", the device's major and minor in hex; a waiter's has "->".
PROC_LOCKS = Path("/proc/locks")


def sqlite_holders(file: Path, config: Path | None = None) -> list[int]:
    """Every other process that has the WAL database `file` open: their process ids, in
    order (0 for those not visible from here), or [] when none is seen (module docstring).
    Call it while this process has no connection to `file` open: closing the descriptor it
    opens drops every lock this process holds on the -shm file. `config`: the --config of
    the `db upgrade` asking (None: none given), which the upgrade its refusal tells carries."""
    from serving.db_upgrade import DatabaseInUseError

    # SQLite follows a link to the database: its -shm lies beside the file linked to.
    real = file.resolve()
    shm = real.with_name(real.name + "-shm")
    try:
        fd = os.open(shm, os.O_RDONLY)
        try:
            if sys.platform != "linux":
                raise OSError(f"this check runs on Linux only, not on {sys.platform}")
            import fcntl

            asked = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, SQLITE_SHM_DMS_BYTE, 1, 0)
            answer = fcntl.fcntl(fd, fcntl.F_GETLK, asked)
            found = os.fstat(fd)
        finally:
            os.close(fd)
    except FileNotFoundError:  # no -shm: no connection has it open (the last one removes it)
        return []
    except OSError as exc:  # not Linux, no permission, a file system without locks, ...
        raise DatabaseInUseError(
            f"cannot tell whether another process has {real} open ({exc.strerror or exc}): stop "
            f"the service and every other shanyraq command on it (`lsof {word(shm)}` lists who has "
            f"it open; without that file none has), then run `shanyraq db upgrade --force"
            f"{config_option(config)}`"
        ) from None
    kind, _whence, _start, _len, pid = struct.unpack("hhqqi", answer)
    holders = _listed_holders(found) or set()
    if kind != fcntl.F_UNLCK:  # the one F_GETLK names, also where /proc/locks lists none
        holders.add(max(pid, 0))
    return sorted(holders)


def sqlite_holder(file: Path) -> int | None:
    """One process `sqlite_holders` finds (the first), or None when none is seen."""
    holders = sqlite_holders(file)
    return holders[0] if holders else None


def _listed_holders(shm: os.stat_result) -> set[int] | None:
    """The other processes /proc/locks lists holding a lock on `shm`'s SQLITE_SHM_DMS_BYTE
    (0: one whose id is not shown, an open file description's lock); None where it cannot be
    read."""
    try:
        lines = PROC_LOCKS.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    wanted = (os.major(shm.st_dev), os.minor(shm.st_dev), shm.st_ino)
    holders: set[int] = set()
    for line in lines:
        fields = line.split()
        if len(fields) < 8 or fields[1] == "->" or fields[1] not in ("POSIX", "OFDLCK"):
            continue  # a waiter, or a lock of another kind (flock, lease)
        try:
            major, minor, inode = fields[5].split(":")
            if (int(major, 16), int(minor, 16), int(inode)) != wanted:
                continue
            start, end, pid = int(fields[6]), fields[7], int(fields[4])
            last = SQLITE_SHM_DMS_BYTE if end == "EOF" else int(end)
            if start <= SQLITE_SHM_DMS_BYTE <= last and pid != os.getpid():
                holders.add(max(pid, 0))
        except ValueError:  # a line of another form: not one of these
            continue
    return holders


def sqlite_users(file: Path, config: Path | None = None) -> list[str]:
    """Who else has the SQLite database `file` open, in words, every one (`sqlite_holders`:
    call it while this process has none of its connections open; `config` as there)."""
    return [_process(pid) for pid in sqlite_holders(file, config)]


def _process(pid: int) -> str:
    """Process `pid` in words, with its command where this machine shows it: the words before
    its first option only (another command's options may hold a password)."""
    if pid <= 0:
        return "a process not visible from here"
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"process {pid}"
    words: list[str] = []
    for arg in (arg.decode(errors="replace") for arg in argv if arg):
        if arg.startswith("-") or len(words) == 4:
            break
        words.append(arg)
    return f"process {pid} ({' '.join(words)})" if words else f"process {pid}"
