"""Where a command writes, checked before it trains or measures: a measurement takes minutes to
hours, and an output path that names a file where a folder is needed (or the reverse), or a
place that cannot be written, is refused before it starts. The checks leave nothing behind.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from shanyraq.errors import InputFileError, ShanyraqError


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
