"""Outputs written atomically: a reader sees the old file (or folder) or the whole new one,
never half, and a failure leaves the old one as it was and nothing of the new one behind."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

TEMP_SUFFIX = ".tmp"  # atomic_file's temporary file is the target's name plus this
STAGING_MARK = ".partial-"  # atomic_folder's work folder is NAME.partial-XXXXXXXX


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; write it, and on success it replaces `path`.

    Write the path however suits the writer: open it (text or binary), or hand it to a library
    that wants a path (torch.save); a library that adds its own suffix to a path (numpy's
    savez) gets the open file instead. On any failure the temporary file is removed and `path`
    is left as it was. A folder at `path`, or a file where one of its parent folders should be,
    raises an OSError naming that path before anything is written (the CLI prints it as one
    `file_error` line).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # mkdir met a file where a folder should be
        raise NotADirectoryError(
            errno.ENOTDIR, "is a file, but the path needs a folder there", exc.filename
        ) from None
    tmp = path.with_name(path.name + TEMP_SUFFIX)
    try:
        yield tmp
        tmp.replace(path)
    except BaseException as exc:
        with suppress(OSError):  # nothing to remove, or a folder that cannot be written
            tmp.unlink()
        if isinstance(exc, OSError) and str(exc.filename) == str(tmp):
            exc.filename = str(path)  # name the file the user asked for, not our temporary
        raise


def not_replaceable(folder: Path, *, marker: str, allowed: Collection[str]) -> str | None:
    """Why `folder` is not a folder a whole new one may replace ("it is a file", "it has no
    MARKER", "it also holds ..."), or None when it may: it does not exist, is empty, or holds
    `marker` and no entry outside `allowed` (so replacing it loses nothing but an old copy)."""
    if folder.is_symlink():
        return "it is a symbolic link"
    if not folder.exists():
        return None
    if not folder.is_dir():
        return "it is a file"
    entries = sorted(entry.name for entry in folder.iterdir())
    if entries and marker not in entries:
        return f"it has no {marker}"
    if others := [name for name in entries if name not in allowed]:
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
    removed and `path` is left as it was. No other path is deleted.
    """
    path = Path(os.path.abspath(path))  # "." and ".." have no name to stage beside
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=path.name + STAGING_MARK, dir=path.parent))
    try:
        staging = work / "new"
        staging.mkdir()
        yield staging
        _swap_in(staging, path, old=work / "old")
    finally:
        shutil.rmtree(work, ignore_errors=True)


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


def swap_entries(staging: Path, target: Path, *, replaced: Collection[str], aside: Path) -> None:
    """Put every entry of `staging` into `target`, after moving `target`'s entries named in
    `replaced` into the folder `aside`. If a move fails, every move is undone (the new entries
    back to `staging`, the old ones back to `target`) and the error is raised, so `target`
    holds either all the new entries or all the old ones. The caller removes the folders."""
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
