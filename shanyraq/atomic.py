"""Output files written atomically: a reader sees the old file or the whole new one, never half."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; write it, and on success it replaces `path`.

    On any failure the temporary file is removed and `path` is left as it was. A folder at
    `path`, or a file where one of its parent folders should be, raises an OSError naming
    that path before anything is written (the CLI prints it as one `file_error` line).
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
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        tmp.replace(path)
    except BaseException as exc:
        with suppress(OSError):  # nothing to remove, or a folder that cannot be written
            tmp.unlink()
        if isinstance(exc, OSError) and str(exc.filename) == str(tmp):
            exc.filename = str(path)  # name the file the user asked for, not our temporary
        raise
