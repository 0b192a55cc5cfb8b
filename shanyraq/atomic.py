"""Outputs written atomically: a reader sees the old file (or folder) or the whole new one,
never half, and a failure leaves the old one as it was and nothing of the new one behind."""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

TEMP_SUFFIX = ".tmp"  # atomic_file's temporary file is NAME.XXXXXXXXXXXXXXXX.tmp
STAGING_MARK = ".partial-"  # atomic_folder's work folder is NAME.partial-XXXXXXXX
_TEMPORARY = re.compile(r"(?P<name>.+)\.[0-9a-f]{16}" + re.escape(TEMP_SUFFIX))
# fsync of a folder where the file system has none: the rename is done, only not forced out.
_NO_FOLDER_SYNC = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF})
# link() where the file system has no hard links.
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS})


@contextmanager
def atomic_file(path: Path, *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; write it, and on success it replaces `path`.

    Write the path however suits the writer: open it (text or binary), or hand it to a library
    that wants a path (torch.save); a library that adds its own suffix to a path (numpy's
    savez) gets the open file instead. The path does not exist yet: the writer creates the
    file, so it gets the mode any new file gets (0o666 less the umask). Its name is this
    writer's own (`NAME.` sixteen random hex digits `.tmp`), so writers of the same file at
    once do not meet: each replaces `path` whole, the last one's stays. The written file is
    flushed to disk before it replaces `path`, and the folder after.

    With `replace=False` it never replaces a file: the written file gets the name `path`
    only if nothing has it by then (`_publish_new`), else FileExistsError, so a file made at
    `path` while this one was written is kept.

    A symbolic link at `path` is followed, as writing the file would: the file it leads to
    (made if it is missing) is the one replaced, the temporary file beside it, and the link
    stays. A loop of links raises an OSError (ELOOP) naming `path`. atomic_folder does the same.

    On any failure the temporary file is removed and `path` is left as it was. A folder at
    `path`, or a file where one of its parent folders should be, raises an OSError naming
    that path before anything is written (the CLI prints it as one `file_error` line).
    """
    path = _through_link(Path(path))
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    _make_parent(path)
    tmp = _unused_name(path)
    try:
        yield tmp
        _sync(tmp)
        if replace:
            tmp.replace(path)
        else:
            _publish_new(tmp, path)
        _sync_folder(path.parent)
    except BaseException as exc:
        with suppress(OSError):  # nothing to remove, or a folder that cannot be written
            tmp.unlink()
        if isinstance(exc, OSError) and str(exc.filename) == str(tmp):
            exc.filename = str(path)  # name the file the user asked for, not our temporary
        raise


def _through_link(path: Path) -> Path:
    """The path a symbolic link at `path` leads to (through a chain of links), else `path`:
    renaming onto the link would replace the link, and leave the file it names as it was."""
    if not os.path.islink(path):
        return path
    target = Path(os.path.realpath(path))
    if os.path.islink(target):  # realpath stops in a loop, at a link it cannot resolve
        raise OSError(errno.ELOOP, "is a symbolic link that leads round in a loop", str(path))
    return target


def _make_parent(path: Path) -> None:
    """Create `path`'s folder and those above it; NotADirectoryError naming a file in the way."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # mkdir met a file where a folder should be
        raise NotADirectoryError(
            errno.ENOTDIR, "is a file, but the path needs a folder there", exc.filename
        ) from None


def _unused_name(path: Path) -> Path:
    """A name beside `path` that no file has, and no other writer will pick (64 random bits)."""
    while True:
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(8)}{TEMP_SUFFIX}")
        if not os.path.lexists(tmp):
            return tmp


def _publish_new(tmp: Path, path: Path) -> None:
    """Give the finished `tmp` the name `path` unless something has that name (then
    FileExistsError): a hard link, which checks and names in one step, then `tmp` unlinked.

    Where the file system has no hard links (FAT, some network mounts), `path` is claimed
    by creating it (O_EXCL: the same one-step check) and `tmp` renamed over it, so a reader
    may see `path` empty for that moment, never another writer's file lost.
    """
    try:
        os.link(tmp, path)
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
    else:
        tmp.unlink()
        return
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        tmp.replace(path)
    except BaseException:
        with suppress(OSError):
            path.unlink()  # the empty file claimed above, nobody else's
        raise


def _sync(file: Path) -> None:
    """Flush a written file's bytes to disk (else a crash after the rename can leave `path`
    empty on some file systems)."""
    fd = os.open(file, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    """Flush `folder`'s entries (the rename) to disk, where the file system can."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # a folder this process may write in but not open (mode -wx)
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_FOLDER_SYNC:
            raise
    finally:
        os.close(fd)


def temporary_of(name: str) -> str | None:
    """The name of the file an atomic_file temporary `name` was to replace (a writer killed
    mid-write leaves one), or None when `name` is not one."""
    target = None
    while match := _TEMPORARY.fullmatch(name):
        target = name = match["name"]  # a temporary of a temporary: a writer nested in one
    return target


def not_replaceable(folder: Path, *, marker: str, allowed: Collection[str]) -> str | None:
    """Why `folder` is not a folder a whole new one may replace ("it is a file", "it has no
    MARKER", "it also holds ..."), or None when it may: it does not exist, is empty, or holds
    `marker` and no entry outside `allowed` (so replacing it loses nothing but an old copy).
    A temporary file atomic_file left for an allowed name (a writer killed mid-write) is
    allowed too."""
    if folder.is_symlink():
        return "it is a symbolic link"
    if not folder.exists():
        return None
    if not folder.is_dir():
        return "it is a file"
    entries = sorted(entry.name for entry in folder.iterdir())
    if entries and marker not in entries:
        return f"it has no {marker}"
    others = [name for name in entries if name not in allowed and temporary_of(name) not in allowed]
    if others:
        more = f" and {len(others) - 5} more" if len(others) > 5 else ""
        return "it also holds " + ", ".join(others[:5]) + more
    return None


@contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """Yield a new, empty staging folder beside `path`; fill it, and on success it takes the
    place of `path` (created, or replaced whole: the caller has checked that `path` is new,
    empty or a folder it may replace, e.g. with `not_replaceable`).

    The staging folder lives in a private work folder `NAME.partial-XXXXXXXX` beside `path`
    (the same file system, so the swap is a rename); on any failure that work folder is
    removed and `path` is left as it was. No other path is deleted. As atomic_file flushes,
    every file and folder written is flushed to disk before the swap and `path`'s folder
    after it, so a crash then leaves the old folder or the whole new one, never empty files.

    A symbolic link at `path` is followed, as in atomic_file: the folder it leads to (made if
    it is missing) is replaced, staged beside it, and the link stays (a caller that refuses
    links checks `not_replaceable` first). A loop of links raises an OSError (ELOOP).
    """
    path = _through_link(Path(os.path.abspath(path)))  # "." and "..": no name to stage beside
    _make_parent(path)
    work = Path(tempfile.mkdtemp(prefix=path.name + STAGING_MARK, dir=path.parent))
    try:
        staging = work / "new"
        staging.mkdir()
        yield staging
        _sync_tree(staging)  # the new files on disk before their folder takes `path`'s place
        _swap_in(staging, path, old=work / "old")
        _sync_folder(path.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _sync_tree(folder: Path) -> None:
    """Flush every regular file under `folder` (symbolic links not followed), then each folder."""
    for root, _, files in os.walk(folder):
        for name in files:
            entry = Path(root, name)
            if not entry.is_symlink() and entry.is_file():
                _sync(entry)
        _sync_folder(Path(root))


def _swap_in(staging: Path, path: Path, *, old: Path) -> None:
    """Put `staging` at `path`; a folder it replaces goes to `old` (in the work folder), and
    back to `path` if the new one cannot be put there."""
    if path.exists():
        path.rename(old)
    try:
        staging.rename(path)
    except BaseException:
        if old.exists():
            old.rename(path)
        raise


def swap_entries(
    staging: Path, target: Path, *, replaced: Collection[str], aside: Path, sync: bool = False
) -> None:
    """Put every entry of `staging` into `target`, after moving `target`'s entries named in
    `replaced` into the folder `aside`. If a move fails, every move is undone (the new entries
    back to `staging`, the old ones back to `target`) and the error is raised, so `target`
    holds either all the new entries or all the old ones. The caller removes the folders.

    `sync`: flush what `staging` holds before the moves and `target` after, as atomic_folder
    does, so a crash leaves the old entries or whole new ones (for a few files, such as a
    model; a synthetic data set's thousands of photos are left to the file system)."""
    if sync:
        _sync_tree(staging)
    moved_aside: list[str] = []
    moved_in: list[str] = []
    try:
        for name in replaced:
            if os.path.lexists(target / name):
                (target / name).rename(aside / name)
                moved_aside.append(name)
        for entry in sorted(staging.iterdir()):
            entry.rename(target / entry.name)
            moved_in.append(entry.name)
    except BaseException:
        for name in reversed(moved_in):
            (target / name).rename(staging / name)
        for name in reversed(moved_aside):
            (aside / name).rename(target / name)
        raise
    if sync:
        _sync_folder(target)
