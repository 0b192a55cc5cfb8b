"""The service's data folder holds personal data (the SQLite database, photos, the signing key,
the audit anchor): what the service makes there is private to its own account.

New folders are made 0700 and the database file 0600 (SQLite gives its -wal and -shm files the
database file's mode). Existing folders and files keep the permissions an operator gave them:
a data folder that others may enter is reported once at start, never changed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from serving.core.config import ServingSettings

logger = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# What the service keeps in the data folder besides the database: the signing key's file
# (ServingSettings.signing_key) and the heat-map cache (serving.web.heatmaps.CACHE_DIR).
KEY_FILE = "secret_key"
HEATMAP_CACHE_DIR = "heatmaps"


def service_paths(settings: ServingSettings) -> dict[Path, str]:
    """The service's own files and stores besides the database, in words: what no command's
    output may replace or go into (`db backup OUT`)."""
    return {
        settings.data_dir / KEY_FILE: "the signing key",
        settings.resolved_audit_anchor_file: "the audit anchor file",
        settings.store_dir: "the photo store",
        settings.data_dir / HEATMAP_CACHE_DIR: "the heat-map cache",
    }


def make_private_dir(folder: Path, *, private_below: Path | None = None) -> None:
    """Make `folder` 0700 when it is missing; an existing one is left as it is. Its missing
    parents get the default mode, except those below `private_below` (e.g. the data folder:
    a cache's sub-folders), which are made 0700 too."""
    parent = folder.parent
    below = private_below is not None and parent.is_relative_to(private_below)
    if below and parent != private_below:
        make_private_dir(parent, private_below=private_below)
    parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=PRIVATE_DIR_MODE)  # the umask can take bits away, never add them


def make_private_file(path: Path) -> None:
    """Make `path` an empty 0600 file when it is missing, so that what opens it next (SQLite
    creating a database) finds it private from the start; an existing one is left as it is."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def open_to_others(folder: Path) -> bool:
    """Whether `folder` exists and its group or other users may read, enter or write it."""
    try:
        mode = folder.stat().st_mode
    except FileNotFoundError:
        return False
    return bool(stat.S_IMODE(mode) & 0o077)


def warn_if_open(folder: Path) -> bool:
    """Log a warning when the data folder is open to other users; True when it is."""
    if not open_to_others(folder):
        return False
    mode = stat.S_IMODE(folder.stat().st_mode)
    logger.warning(
        "data folder %s has mode %o: other users of this machine may read its personal data "
        "(database, photos, signing key); run `chmod 700 %s` unless that is intended",
        folder, mode, folder,
    )  # fmt: skip
    return True
