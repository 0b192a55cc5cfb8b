"""Where a command writes, checked before it trains or measures: a measurement takes minutes to
hours, and an output path that names a file where a folder is needed (or the reverse), or a
place that cannot be written, is refused before it starts. The checks leave nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from shanyraq.errors import InputFileError, OutputExistsError, ShanyraqError


def _writable_place(path: Path, folder: Path, option: str, error: type[ShanyraqError]) -> None:
    """The nearest existing folder at or above `folder` (where `path` goes) must be a folder
    this process can write in."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise error(
            f"{option} {path} is not a folder ({existing} is a file, but the path needs a "
            "folder there); choose another path"
        )
    try:  # the one sure test, creating nothing: a file with no name, gone when closed
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise error(
            f"{option} {path}: cannot write in {existing} ({exc.strerror or exc}); choose a "
            "folder you can write to"
        ) from None


def check_output_folder(
    path: Path, *, option: str = "--out", error: type[ShanyraqError] = InputFileError
) -> None:
    """`path` is a folder, or can be made one, and can be written in."""
    if path.exists() and not path.is_dir():
        raise error(f"{option} {path} is not a folder (it is a file); choose a folder")
    _writable_place(path, path, option, error)


def check_output_file(
    path: Path, *, option: str = "--out", error: type[ShanyraqError] = InputFileError
) -> None:
    """`path` is not a folder, and the folder it goes in is, or can be made, and writable."""
    if path.is_dir():
        raise error(f"{option} {path} is a folder; give the path of a file")
    _writable_place(path, path.parent, option, error)


def _same_file(a: Path, b: Path) -> bool:
    """Whether `a` and `b` name one file (a link or another spelling of the path included)."""
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def check_new_output_file(
    path: Path,
    *,
    overwrite: bool,
    inputs: Sequence[Path] = (),
    option: str = "--out",
) -> None:
    """The file `path` is none of `inputs` (never replaced, even with `overwrite`: the command
    reads them), and is new unless `overwrite` is set: an existing file is refused
    (OutputExistsError) rather than replaced without being asked. A folder at `path` is left
    to the writer, which refuses it naming the path (shanyraq.atomic.atomic_file)."""
    for source in inputs:
        if _same_file(path, source):
            raise InputFileError(
                f"{option} {path} is the input {source} itself, which the output would "
                "replace; choose another file"
            )
    if os.path.lexists(path) and not path.is_dir() and not overwrite:
        raise OutputExistsError(
            f"{option} {path} exists; choose another path, or pass --overwrite to replace it"
        )
