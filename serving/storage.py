"""The photo store: content-addressed by sha256, durable before it says so.

A write goes to a temp file in the same folder, is fsynced, renamed atomically into place and
the folder is fsynced, so after a crash a photo is either whole under its name or absent;
leftover temp files are removed at start-up. The same bytes stored twice are one file; a copy
damaged on disk is replaced when its bytes are stored again.
Originals keep their metadata; browsers get a re-encoded copy without EXIF or GPS, saved
under `served/` led by a digest that is checked whenever the copy is read.

An upload stores its file before it commits its row, so a failed commit leaves a file no row
names; `shanyraq store sweep` (serving.store_sweep) removes those. What this module does for
it: `put` marks a file it finds already stored as stored now (its mtime) and writes it again
when a sweep has moved it away; `set_aside`, `put_back` and `remove_set_aside` are the sweep's
steps; originals a sweep left set aside (it was interrupted) are put back at start-up.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import io
import logging
import math
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from serving.data_dir import PRIVATE_DIR_MODE
from serving.errors import NotFoundError, StorageError
from serving.originals import checked_original
from serving.stored_decode import decode_stored

logger = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TEMP_PREFIX = ".incoming-"
# A temp file younger than this may be a write in flight: besides the service's start, `prepare`
# runs in commands that build the services (assessments refresh, rescore promote) while the
# service may be filing uploads. A write takes seconds.
TEMP_LEFTOVER_AGE_S = 15 * 60
_PROBE_PREFIX = ".health-"  # + pid + "-" + a random tag, in the root: `health`'s probe
_SET_ASIDE_PREFIX = ".sweeping-"  # + sha256 + "." + a random tag: an original a sweep holds
_SHARD = re.compile(r"^[0-9a-f]{2}$")
_COPY_DIGEST_BYTES = 32  # a sha256: what a saved browser copy starts with (_copy_digest)


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


def _copy_digest(sha256: str, copy: bytes) -> bytes:
    """What a saved browser copy starts with: a digest of the copy and of its original's
    name, so that bytes damaged on disk, or another photo's copy put in its place, are caught
    when read (`_saved_copy`)."""
    return hashlib.sha256(sha256.encode() + copy).digest()


def _saved_copy(path: Path, sha256: str) -> bytes | None:
    """The browser copy of `sha256` saved at `path`, checked against the digest it was saved
    with; None when there is none, or it cannot be read or does not hold what was saved
    (logged): it is made again from the original."""
    try:
        saved = path.read_bytes()
    except FileNotFoundError:
        return None  # not made yet, or removed by a sweep since
    except OSError as exc:
        logger.warning("browser copy %s cannot be read (%s): made again", path, exc.strerror)
        return None
    digest, copy = saved[:_COPY_DIGEST_BYTES], saved[_COPY_DIGEST_BYTES:]
    if copy and hmac.compare_digest(digest, _copy_digest(sha256, copy)):
        return copy
    logger.warning(
        "browser copy %s does not hold what was saved (damaged or replaced on disk, or saved "
        "before copies were checked): made again",
        path,
    )
    return None


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


def _touch(path: Path) -> bool:
    """Mark the file at `path` as stored now (its mtime), so that a sweep which listed it as
    old sees it claimed (serving.store_sweep). False when it is gone (a sweep moved it away)
    or cannot be touched (another owner's file): the caller then writes it again."""
    try:
        os.utime(path)
    except OSError as exc:
        return exc.errno == errno.EROFS  # a read-only store: no sweep can move it either
    return True


class PhotoStore:
    """Original photos under `root/originals/ab/abcdef...`; browser copies under `root/served`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.originals = root / "originals"
        self.served = root / "served"

    def prepare(self, *, any_age: bool = True) -> int:
        """Create the folders, put back originals an interrupted sweep left set aside, and
        remove temp files a crash left behind; returns how many temp files. Without
        `any_age` (a command while the service may run) only those older than
        TEMP_LEFTOVER_AGE_S: a younger one may be the service's upload in flight."""
        removed = 0
        oldest_kept = math.inf if any_age else time.time() - TEMP_LEFTOVER_AGE_S
        for folder in (self.originals, self.served):
            _make_folders(folder)
            for leftover in folder.rglob(f"{_TEMP_PREFIX}*"):
                try:
                    if leftover.stat().st_mtime > oldest_kept:
                        continue
                except FileNotFoundError:  # its write just finished (renamed) or failed
                    continue
                leftover.unlink(missing_ok=True)
                removed += 1
        for probe in self.root.glob(f"{_PROBE_PREFIX}*"):  # of a health check killed midway
            with contextlib.suppress(FileNotFoundError):  # (a young one: a check under way)
                if probe.stat().st_mtime < time.time() - TEMP_LEFTOVER_AGE_S:
                    probe.unlink()
        if removed:
            logger.warning("removed %d partial file(s) left by an interrupted write", removed)
        restored = self.restore_set_aside()
        if restored:
            logger.warning("put back %d photo(s) an interrupted store sweep left", restored)
        _fsync_dir(self.root)
        return removed

    def path_for(self, sha256: str, *, folder: Path | None = None) -> Path:
        if not _SHA256.match(sha256):
            raise NotFoundError("no photo with that content hash")
        return (folder or self.originals) / sha256[:2] / sha256

    def put(self, data: bytes) -> StoredPhoto:
        """Store `data` durably under its content hash; the caller commits a row on the answer.

        A file already there is kept, and its mtime set to now: a sweep that listed it as old
        and unreferenced compares the mtime again after setting it aside, so it puts back a
        file stored meanwhile (serving.store_sweep). A file the sweep renamed away between
        our check and that touch is gone: it is written again, so the row never points at a
        name that holds nothing.
        """
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.path_for(sha256)
        try:
            if _holds(path, data) and _touch(path):
                # Another request may have renamed it into place and not yet fsynced the
                # folder; the caller commits a row on our answer, so make the name durable.
                _fsync_dir(path.parent)
                return StoredPhoto(sha256, path, len(data), created=False)
            # Absent, moved away by a sweep, or damaged on disk (cut short or bit rot of the
            # same size): the row the caller commits must point at these very bytes, so the
            # upload writes them (again).
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
        """The original's bytes; NotFoundError when it is missing. A file that is there but
        cannot be read raises the OSError itself: `shanyraq rescore` records the system's
        words as the photo's outcome; a request answers `unreadable_original` instead."""
        path = self.path_for(sha256)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError("the photo file is missing from the store") from None

    def verify(self, sha256: str) -> bool:
        """True when the stored bytes still hash to their name; False when they do not, or
        the file is missing or cannot be read (logged with its path and the system's words)."""
        try:
            return hashlib.sha256(self.read(sha256)).hexdigest() == sha256
        except NotFoundError:
            return False
        except OSError as exc:
            logger.warning("original %s cannot be read: %s", self.path_for(sha256), exc.strerror)
            return False

    def served_jpeg(self, sha256: str, *, max_pixels: int, quality: int = 90) -> bytes:
        """A JPEG re-encoded from the upright pixels, with no EXIF, GPS or other metadata;
        PhotoUnreadableError when the original is missing, cannot be read, no longer matches
        its content hash or no longer decodes. The original is read and checked on every
        call, cached copy or not: a copy made from it is the photo only while the original
        still is, and that one read is also what a new copy is made from. `max_pixels`:
        today's upload limit; a photo filed under a higher one is shown all the same
        (`decode_stored`)."""
        path = self.path_for(sha256, folder=self.served)
        original = checked_original(self, sha256)
        cached = _saved_copy(path, sha256)
        if cached is not None:
            return cached
        pixels = decode_stored(sha256, original, max_pixels=max_pixels).pixels
        buffer = io.BytesIO()
        # A fresh image from raw pixels carries no info dict, so nothing of the original leaks.
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
        data = buffer.getvalue()
        try:
            _durable_write(path, _copy_digest(sha256, data) + data)
        except OSError as exc:  # a full or read-only disk: the copy is in hand, serve it
            logger.warning("browser copy of photo %s not cached: %s", sha256[:12], exc.strerror)
        return data

    def shards(self) -> list[str]:
        """The shard folders (`ab`) of the originals and the browser copies, sorted."""
        names: set[str] = set()
        for folder in (self.originals, self.served):
            if folder.is_dir():
                names.update(p.name for p in folder.iterdir() if _SHARD.match(p.name))
        return sorted(names)

    def listed(self, shard: str, *, folder: Path) -> Iterator[tuple[str, os.stat_result]]:
        """(sha256, stat) of each plain file in `folder`/`shard` named by a content hash; temp
        files, set-aside originals, links and anything else there are not listed."""
        try:
            entries = list(os.scandir(folder / shard))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            if not (_SHA256.match(entry.name) and entry.name.startswith(shard)):
                continue
            try:
                if entry.is_file(follow_symlinks=False):
                    yield entry.name, entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while listed

    def set_aside(self, sha256: str) -> Path | None:
        """Rename the original to a hidden name beside it, where `put` cannot find it (an
        upload of the same bytes then writes them again); the new path, or None when there
        is no original. The rename keeps the file's mtime, which the sweep compares."""
        path = self.path_for(sha256)
        moved = path.with_name(f"{_SET_ASIDE_PREFIX}{sha256}.{secrets.token_hex(4)}")
        try:
            os.rename(path, moved)
        except FileNotFoundError:
            return None
        return moved

    def put_back(self, moved: Path, sha256: str) -> None:
        """Undo `set_aside`: the original under its name again, durably. If an upload wrote
        the bytes again meanwhile, its copy stays (the same bytes) and `moved` is dropped; if
        another process put it back first, nothing is left to do."""
        path = self.path_for(sha256)
        try:  # a link, not a rename: it never replaces a copy an upload writes meanwhile
            os.link(moved, path)
        except FileExistsError:
            pass  # the upload's copy (the same bytes, its own time) stays
        except FileNotFoundError:
            return  # another process put it back first
        moved.unlink(missing_ok=True)
        _fsync_dir(path.parent)

    def remove_set_aside(self, moved: Path | None, sha256: str) -> None:
        """Delete the browser copy of `sha256`, then the original set aside at `moved`
        (FileNotFoundError when another process put it back meanwhile: it stays). The copy
        goes first: it can be made again, so a failure in between loses nothing."""
        served = self.path_for(sha256, folder=self.served)
        try:
            served.unlink()
            _fsync_dir(served.parent)
        except FileNotFoundError:
            pass
        if moved is not None:
            moved.unlink()
            _fsync_dir(moved.parent)

    def set_aside_files(self, shard: str | None = None) -> Iterator[tuple[str, Path]]:
        """(sha256, path) of each original set aside (`set_aside`) and neither removed nor
        put back yet, in every shard or in `shard` (`ab`) only; names that do not carry a
        content hash of their shard are not listed. Read one shard folder at a time, as it
        goes: an OSError listing one is raised there, after the earlier shards' files."""
        if shard is None:
            found = self.originals.glob(f"*/{_SET_ASIDE_PREFIX}*")
        else:
            found = (self.originals / shard).glob(f"{_SET_ASIDE_PREFIX}*")
        for moved in found:
            sha256 = moved.name.removeprefix(_SET_ASIDE_PREFIX)[:64]
            if _SHA256.match(sha256) and moved.parent.name == sha256[:2]:
                yield sha256, moved

    def restore_set_aside(self) -> int:
        """Put back every original a sweep left set aside (it stopped between its steps);
        how many. A running sweep finds its file gone and deletes nothing."""
        restored = 0
        for sha256, moved in self.set_aside_files():
            self.put_back(moved, sha256)
            restored += 1
        return restored

    def health(self) -> str:
        """Whether the store takes a new file: "ok", or "error: " and why. Each check makes a
        probe of its own (a new name, O_EXCL): checks at once never remove each other's."""
        try:
            fd, probe = tempfile.mkstemp(prefix=f"{_PROBE_PREFIX}{os.getpid()}-", dir=self.root)
            with os.fdopen(fd, "wb") as handle:
                os.unlink(probe)  # first: a write that fails leaves no probe behind
                handle.write(b"ok")
        except OSError as exc:
            return f"error: {exc.strerror}"
        return "ok"
