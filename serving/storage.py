"""The photo store: content-addressed by sha256, durable before it says so.

A write goes to a temp file in the same folder, is fsynced, renamed atomically into place and
the folder is fsynced, so after a crash a photo is either whole under its name or absent;
leftover temp files are removed at start-up. The same bytes stored twice are one file; a copy
damaged on disk is replaced when its bytes are stored again.
Originals keep their metadata; browsers get a re-encoded copy without EXIF or GPS.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from serving.data_dir import PRIVATE_DIR_MODE
from serving.errors import NotFoundError, StorageError

logger = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TEMP_PREFIX = ".incoming-"


@dataclass(frozen=True)
class StoredPhoto:
    sha256: str
    path: Path
    size_bytes: int
    created: bool  # False when the same bytes were already stored


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Held while folders are made and their parents fsynced, so a writer that finds a new shard
# folder already there knows its entry is durable (one process; see _make_folders).
_FOLDERS_LOCK = threading.Lock()


def _make_folders(folder: Path) -> None:
    """Create `folder` and any missing parents, fsyncing the parent of each one created.

    A new folder's entry lives in its parent: until the parent is fsynced, a power loss can
    drop the folder and every photo written into it, rows committed or not.
    """
    missing: list[Path] = []
    with _FOLDERS_LOCK:
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for created in reversed(missing):
            # Private: the photos are personal data. Exists: another process made it; sync it.
            created.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
            _fsync_dir(created.parent)


def _durable_write(target: Path, data: bytes) -> None:
    """Write `data` to `target` so that it is complete or absent after any crash."""
    _make_folders(target.parent)
    fd, temp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _holds(path: Path, data: bytes) -> bool:
    """Whether the file at `path` is exactly `data`."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except FileNotFoundError:
        return False


class PhotoStore:
    """Original photos under `root/originals/ab/abcdef...`; browser copies under `root/served`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.originals = root / "originals"
        self.served = root / "served"

    def prepare(self) -> int:
        """Create the folders and remove temp files a crash left behind; returns how many."""
        removed = 0
        for folder in (self.originals, self.served):
            _make_folders(folder)
            for leftover in folder.rglob(f"{_TEMP_PREFIX}*"):
                leftover.unlink(missing_ok=True)
                removed += 1
        if removed:
            logger.warning("removed %d partial file(s) left by an interrupted write", removed)
        _fsync_dir(self.root)
        return removed

    def path_for(self, sha256: str, *, folder: Path | None = None) -> Path:
        if not _SHA256.match(sha256):
            raise NotFoundError("no photo with that content hash")
        return (folder or self.originals) / sha256[:2] / sha256

    def put(self, data: bytes) -> StoredPhoto:
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.path_for(sha256)
        try:
            if _holds(path, data):
                # Another request may have renamed it into place and not yet fsynced the
                # folder; the caller commits a row on our answer, so make the name durable.
                _fsync_dir(path.parent)
                return StoredPhoto(sha256, path, len(data), created=False)
            # Absent, or damaged on disk (cut short or bit rot of the same size): the row the
            # caller commits must point at these very bytes, so the upload repairs the copy.
            _durable_write(path, data)
        except OSError as exc:
            raise StorageError(
                f"the photo could not be saved ({exc.strerror}); try again, and tell the "
                "administrator if it keeps failing"
            ) from None
        return StoredPhoto(sha256, path, len(data), created=True)

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).exists()

    def read(self, sha256: str) -> bytes:
        path = self.path_for(sha256)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError("the photo file is missing from the store") from None

    def verify(self, sha256: str) -> bool:
        """True when the stored bytes still hash to their name."""
        try:
            return hashlib.sha256(self.read(sha256)).hexdigest() == sha256
        except NotFoundError:
            return False

    def served_jpeg(self, sha256: str, *, max_pixels: int, quality: int = 90) -> bytes:
        """A JPEG re-encoded from the upright pixels, with no EXIF, GPS or other metadata."""
        path = self.path_for(sha256, folder=self.served)
        if path.exists():
            return path.read_bytes()
        from vision.io import decode_image

        pixels = decode_image(self.read(sha256), max_pixels=max_pixels).pixels
        buffer = io.BytesIO()
        # A fresh image from raw pixels carries no info dict, so nothing of the original leaks.
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
        data = buffer.getvalue()
        try:
            _durable_write(path, data)
        except OSError as exc:  # a full or read-only disk: the copy is in hand, serve it
            logger.warning("browser copy of photo %s not cached: %s", sha256[:12], exc.strerror)
        return data

    def health(self) -> str:
        probe = self.root / ".health"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            return f"error: {exc.strerror}"
        return "ok"
