"""Sweeping the photo store: files no photo row names, older than a grace period, removed.

Why there are such files: an upload stores the original (serving/storage.py) before it commits
its row (serving/uploads.py), so that a 201 means both are durable; a commit that fails (a
crash, an error, a lost race) leaves a file no row names, metadata and GPS included: personal
data kept without purpose, which must go. `shanyraq store sweep` (serving/store_sweep_cli.py)
lists them (a dry run, by default); `--apply` removes each with its browser copy, auditing it
(`store_orphan_removed`).

Why it cannot remove the file of a photo whose row is committed, while the service runs and
uploads the same bytes. For each original with no row and older than the grace, it
1. lists it with its identity (inode, mtime) and asks the database: no photo row names it;
2. sets it aside: renames it to a hidden name beside it (`PhotoStore.set_aside`);
3. checks again, in a write transaction: the set-aside file's identity is the one listed, and
   no photo row names the bytes; either says otherwise: it puts it back (`PhotoStore.put_back`);
4. otherwise audits the removal there, deletes the file and its browser copy, and commits.
An upload commits its row only after its `put` returned, which ran either before the rename (it
found the file and set its mtime to now, or wrote a new one: the set-aside file is not the one
listed, and step 3 puts it back), or after it (it found no file under the name and wrote the
bytes again, a file the sweep never touches: step 4 deletes only the set-aside name). A `put`
before step 1 left a fresh mtime, so the file is no candidate unless the upload took longer than
the grace between storing and committing: hence the grace's floor (STORE_SWEEP_MIN_GRACE_HOURS,
against an upload's seconds), and step 3's database check for a row committed before it. Between
steps 2 and 4 the name is empty for a moment: a read of a photo whose upload of the same bytes
is just committing may miss it; the upload's own file is whole. A sweep stopped between steps 2
and 4 leaves the file set aside: the next sweep and the service's start put it back
(`PhotoStore.restore_set_aside`) and decide again; a dry run counts it, judged as if put back.

A browser copy (`served/`) is made only for a photo with a row; one of bytes no row names is
removed with its original, or alone, once older than the grace, when it has none.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from shanyraq.errors import CommandUsageError

if TYPE_CHECKING:
    import os

    from sqlalchemy.orm import Session, sessionmaker

    from serving.storage import PhotoStore

logger = logging.getLogger(__name__)

AUDIT_ACTION = "store_orphan_removed"
_QUERY_CHUNK = 500  # sha256 values per IN (...): well under every database's parameter limit
_NS_PER_HOUR = 3600 * 10**9


@dataclass(frozen=True)
class Orphan:
    """A content hash in the store that no photo row names, past the grace period."""

    sha256: str
    size_bytes: int  # the original and its browser copy together
    modified_ns: int  # the original's mtime, else the browser copy's
    original: tuple[int, int] | None  # (inode, mtime in ns) as listed; None: a copy alone
    served: bool  # a browser copy was there when listed

    def age_hours(self, now_ns: int) -> float:
        return (now_ns - self.modified_ns) / _NS_PER_HOUR


@dataclass(frozen=True)
class SweepReport:
    grace_hours: float
    orphans: tuple[Orphan, ...]  # found, past the grace
    removed: tuple[Orphan, ...] = ()  # with --apply: deleted and audited
    kept: tuple[str, ...] = ()  # found in use (an upload) or gone when removed: not removed
    restored: int = 0  # left set aside by an interrupted sweep: put back first; a dry run counts
    applied: bool = False
    unreadable: tuple[str, ...] = ()  # what, and the system's words: each left as it is


def check_grace(hours: float) -> float:
    """`hours` when it is a grace a sweep may take, else CommandUsageError saying why."""
    from serving.core.config import STORE_SWEEP_MIN_GRACE_HOURS as least

    if not math.isfinite(hours) or hours < least:
        raise CommandUsageError(
            f"--older-than must be a number of hours of at least {least:g}, not {hours:g}: an "
            "upload stores its file a moment before its row, so a younger file may be a "
            "photo being filed; give e.g. --older-than 24"
        )
    return hours


def _referenced(session: Session, sha256s: list[str]) -> set[str]:
    """Which of `sha256s` a photo row names."""
    from sqlalchemy import select

    from serving.db.models import Photo

    named: set[str] = set()
    for start in range(0, len(sha256s), _QUERY_CHUNK):
        chunk = sha256s[start : start + _QUERY_CHUNK]
        named.update(session.execute(select(Photo.sha256).where(Photo.sha256.in_(chunk))).scalars())
    return named


def _old_in_shard(
    store: PhotoStore, shard: str, cutoff_ns: int, set_aside: list[str] | None
) -> Iterator[Orphan]:
    """The hashes of one shard whose files are past `cutoff_ns` (rows not asked yet)."""
    originals = dict(store.listed(shard, folder=store.originals))
    if set_aside is not None:  # a dry run: the store as --apply finds it, set-aside put back
        for sha256, moved in store.set_aside_files(shard):  # as `restore_set_aside` reads
            with contextlib.suppress(FileNotFoundError):  # put back meanwhile
                originals.setdefault(sha256, moved.stat(follow_symlinks=False))
                set_aside.append(sha256)
    served = dict(store.listed(shard, folder=store.served))
    for sha256 in sorted(originals.keys() | served.keys()):
        original, copy = originals.get(sha256), served.get(sha256)
        decisive = original or served[sha256]  # a copy goes with its original, whatever its age
        if decisive.st_mtime_ns >= cutoff_ns:
            continue  # within the grace
        yield Orphan(
            sha256=sha256,
            size_bytes=sum(s.st_size for s in (original, copy) if s is not None),
            modified_ns=decisive.st_mtime_ns,
            original=None if original is None else _identity(original),
            served=copy is not None,
        )


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_ino, stat.st_mtime_ns


def _utc(ns: int) -> str:
    return datetime.fromtimestamp(ns / 10**9, UTC).isoformat(timespec="seconds")


def find_orphans(
    store: PhotoStore,
    sessions: sessionmaker[Session],
    *,
    grace_hours: float,
    now_ns: int | None = None,
    unreadable: list[str] | None = None,
    set_aside: list[str] | None = None,
) -> list[Orphan]:
    """Step 1: the files older than `grace_hours` that no photo row names; writes nothing.
    One shard (`ab/`) at a time, so a large store is never listed whole in memory; one that
    cannot be (an OSError on it or a file in it) is skipped, and said in `unreadable`."""
    grace_ns = grace_hours * _NS_PER_HOUR
    if not math.isfinite(grace_ns):  # more hours than nanoseconds count: no file is that old
        return []
    cutoff_ns = (time.time_ns() if now_ns is None else now_ns) - int(grace_ns)
    unreadable = [] if unreadable is None else unreadable
    found: list[Orphan] = []
    for shard in store.shards():
        try:
            old = list(_old_in_shard(store, shard, cutoff_ns, set_aside))
        except OSError as exc:  # of its originals or copies: none of them is removed
            unreadable.append(f"shard {shard} not swept: {exc}")
            continue
        if not old:
            continue
        with sessions() as session:
            named = _referenced(session, [orphan.sha256 for orphan in old])
        found += [orphan for orphan in old if orphan.sha256 not in named]
    return found


def remove_orphan(
    store: PhotoStore, sessions: sessionmaker[Session], key: bytes, orphan: Orphan
) -> bool:
    """Steps 2 to 4 for one orphan (module docstring); True when it was removed and audited,
    False when it is in use now (put back) or gone. `sessions`: write sessions."""
    from serving import audit
    from serving.db.session import session_scope

    moved: Path | None = None
    if orphan.original is not None:
        moved = store.set_aside(orphan.sha256)
        if moved is None:
            return False  # gone since it was listed (another sweep)
    removed = False
    try:
        with session_scope(sessions) as session:
            if _still_orphan(session, orphan, moved):
                audit.append(
                    session, key, actor="cli", action=AUDIT_ACTION,
                    target=f"photo_file:{orphan.sha256}",
                    details={
                        "sha256": orphan.sha256, "size_bytes": orphan.size_bytes,
                        "modified": _utc(orphan.modified_ns),
                        "original": orphan.original is not None, "browser_copy": orphan.served,
                    },
                )  # fmt: skip
                # Deleted before the commit: a failed delete rolls the entry back. Only a
                # commit failing after it leaves a removal unaudited; it is raised, not hidden.
                store.remove_set_aside(moved, orphan.sha256)
                removed = True
    except FileNotFoundError:
        return False  # put back by another process (the service starting) while we decided
    finally:
        if moved is not None and not removed:
            store.put_back(moved, orphan.sha256)
    return removed


def _still_orphan(session: Session, orphan: Orphan, moved: Path | None) -> bool:
    """Step 3: the set-aside file is the one listed, and no photo row names the bytes."""
    if moved is not None:
        try:
            if _identity(moved.stat()) != orphan.original:
                logger.info("photo %s was stored again during the sweep: kept", orphan.sha256)
                return False
        except FileNotFoundError:
            return False
    return not _referenced(session, [orphan.sha256])


def sweep(
    store: PhotoStore,
    sessions: sessionmaker[Session],
    *,
    grace_hours: float,
    key: bytes | None = None,
) -> SweepReport:
    """Find the orphans; with `key` (the audit key) remove them, each audited, after putting
    back what an interrupted sweep left set aside. Without it, a dry run: nothing changes.
    A file or folder that cannot be read, set aside or removed (permissions, a disk error) is
    left as it is and reported, and the sweep goes on; a shard not listed whole is skipped."""
    check_grace(grace_hours)
    unreadable: list[str] = []
    try:  # a file that cannot be put back stays set aside, where no sweep deletes it
        restored = store.restore_set_aside() if key is not None else 0
    except OSError as exc:
        restored = 0
        unreadable.append(f"files an interrupted sweep set aside, not all put back: {exc}")
    left: list[str] = []  # a dry run puts nothing back: it counts them
    orphans = find_orphans(
        store, sessions, grace_hours=grace_hours, unreadable=unreadable,
        set_aside=left if key is None else None,
    )  # fmt: skip
    if key is None:
        return SweepReport(grace_hours, tuple(orphans), (), (), len(left), False, tuple(unreadable))
    if orphans:
        _refuse_a_database_naming_no_photo(sessions, len(orphans))
    removed, kept = [], []
    for orphan in orphans:
        try:
            if remove_orphan(store, sessions, key, orphan):
                removed.append(orphan)
            else:
                kept.append(orphan.sha256)
        except OSError as exc:  # nothing removed, but perhaps its browser copy (storage.py)
            unreadable.append(f"photo {orphan.sha256} not removed: {exc}")
    return SweepReport(
        grace_hours, tuple(orphans), tuple(removed), tuple(kept), restored, applied=True,
        unreadable=tuple(unreadable),
    )  # fmt: skip


def _refuse_a_database_naming_no_photo(sessions: sessionmaker[Session], found: int) -> None:
    """DatabaseMissingError when no photo row exists at all: a store with old files is then
    not this database's (the settings point at another), and every file would be removed."""
    from sqlalchemy import select

    from serving.db.models import Photo
    from serving.db.refusals import DatabaseMissingError

    with sessions() as session:
        if session.execute(select(Photo.id).limit(1)).first() is not None:
            return
    raise DatabaseMissingError(
        f"the database names no photo, yet the store holds {found} photo file(s) older than "
        "the grace: it is not this store's database, so nothing was removed; check "
        "database_url and data_dir in serving.yaml"
    )
