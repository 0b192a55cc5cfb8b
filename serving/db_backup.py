"""Backups of the embedded SQLite database: a consistent copy of the live file, taken with
SQLite's online backup API while the service runs, written atomically and verified.

The copy is one snapshot: SQLite's backup reads every page in one read transaction, and in
WAL mode a reader neither waits for nor sees a writer's open transaction, so the service
keeps running and the copy holds exactly the transactions committed when it started. It is
written to a temporary name beside OUT, switched to the rollback journal (one self-contained
file: no -wal beside it), checked (`PRAGMA integrity_check`, the same Alembic revision as the
live database) and only then renamed to OUT. Without --overwrite it is linked to OUT instead,
which fails if anything is there by then: a file that appeared at OUT meanwhile is kept, and
the backup refused (shanyraq.atomic.atomic_file, replace=False). PostgreSQL is refused:
`pg_dump` backs it up.

The source is opened read-only (`mode=ro`): the backup never writes the live database. On a
read-only file system a WAL database cannot be opened that way (SQLite needs its -shm file);
there, with no -wal file holding commits, it is opened as immutable, which is exact because
nothing can write a file there. Reading a WAL database makes a -wal and -shm beside it, which
a read-only connection cannot remove when it closes: for a database that had none (a stopped
service), the backup ends with one more connection, whose close removes them as SQLite's last
connection does, only if nothing else has them open and the -wal holds no commits
(`_close_wal`), so the folder is left as it was.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from serving.data_dir import make_private_dir, make_private_file
from serving.db.refusals import FILE_HINT, DatabaseMissingError, DatabaseUnavailableError
from serving.db.session import (
    connect_read_only,
    connect_sqlite,
    parse_url,
    shown_database,
    sqlite_file,
    wal_holds_commits,
    writable,
)
from shanyraq.atomic import atomic_file
from shanyraq.errors import OutputExistsError, OutputPathError, ShanyraqError

logger = logging.getLogger(__name__)

# Alembic's table of the revision a database is at (its default name, which env.py keeps).
VERSION_TABLE = "alembic_version"
# SQLite's errors of writing a file: in a backup, only the copy is written.
_WRITE_ERRORS = frozenset({"SQLITE_FULL", "SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC"})


class BackupUnsupportedError(ShanyraqError):
    """`shanyraq db backup` copies the embedded SQLite database only."""

    code = "backup_unsupported"


class BackupInvalidError(ShanyraqError):
    """The copy failed its checks; it was not kept."""

    code = "backup_invalid"
    http_status = 500


@dataclass(frozen=True)
class Backup:
    """A verified copy of the database: where it is, its size, and its Alembic revision."""

    path: Path
    source: Path
    size_bytes: int
    revision: str | None


def backup_sqlite(
    url: str, out: Path, *, overwrite: bool = False, kept: Mapping[Path, str] | None = None
) -> Backup:
    """Copy the SQLite database at `url` to `out`; an existing `out` only with `overwrite`.

    Never over the database, its -wal, -shm or -journal, nor over or into a path of `kept`
    (the service's other files and stores, in words: serving.data_dir.service_paths).
    """
    parsed = parse_url(url)
    source = sqlite_file(parsed)
    if source is None:
        raise BackupUnsupportedError(
            f"the database at {shown_database(parsed)} is not a SQLite "
            "file; `shanyraq db backup` copies the embedded SQLite database only. Back up "
            "PostgreSQL with its own tool, e.g. `pg_dump --format=custom --file OUT --dbname "
            "postgresql://USER@HOST:PORT/NAME` with the password in PGPASSWORD or ~/.pgpass, "
            "never in the URL (other users see a command line in `ps`), and the photo store, "
            "the signing key and the audit anchor file beside it (README, Database upgrades "
            "and backups)"
        )
    if not source.is_file() or source.stat().st_size == 0:
        raise DatabaseMissingError(f"no database at {source}; {FILE_HINT}")
    # SQLite follows a link to the database: its -wal, -shm and -journal lie beside the file.
    source = source.resolve()
    out = Path(out)
    service = {**database_files(source), **(kept or {})}
    refuse_service_path(out, service)
    if out.is_dir():  # --overwrite replaces a file, never a folder
        raise OutputPathError(
            f"{out} is a folder; name the backup file to write, e.g. "
            f"{_file_in(out, source, service)}"
        )
    if os.path.lexists(out) and not overwrite:
        raise OutputExistsError(f"{out} exists; give another path, or --overwrite to replace it")
    with _source_connection(source) as connection:
        try:  # a copy of personal data: a new folder 0700, the file 0600
            make_private_dir(out.parent)
        except FileExistsError as exc:  # a file where one of OUT's folders should be
            raise OutputPathError(
                f"{exc.filename} is a file, but {out} needs a folder there; give another path"
            ) from None
        try:
            # Without overwrite the copy is published only if OUT is still free (checked in
            # the same step): the check above only spares a copy that would be refused.
            with atomic_file(out, replace=overwrite) as tmp:
                make_private_file(tmp)  # before SQLite creates it with the umask's mode
                _copy(connection, tmp, source=source)
                revision = _verify(tmp, expected=_revision(connection), out=out)
        except FileExistsError:
            raise OutputExistsError(
                f"{out} appeared while the backup was being written and was left as it is; "
                "the backup was not kept: give another path, or --overwrite to replace it"
            ) from None
    return Backup(path=out, source=source, size_bytes=out.stat().st_size, revision=revision)


def _file_in(folder: Path, source: Path, service: Mapping[Path, str]) -> Path:
    """A backup file to name in `folder`: the database's name, unless that is one of the
    service's files (`folder` is the database's own), then a name beside it."""
    named = folder / source.name
    try:
        refuse_service_path(named, service)
    except OutputExistsError:
        return folder / f"{source.stem}-backup{source.suffix}"
    return named


def database_files(source: Path) -> dict[Path, str]:
    """The live database and the files SQLite keeps beside it, in words."""
    files = {source: "the live database itself"}
    for suffix in ("-wal", "-shm", "-journal"):
        files[source.with_name(source.name + suffix)] = f"the live database's {suffix} file"
    return files


def refuse_service_path(out: Path, kept: Mapping[Path, str]) -> None:
    """OutputExistsError when `out` is one of `kept`'s paths or inside one, compared once
    symbolic links and `..` are resolved (and by identity, for a hard link or a bind mount)."""
    target = out.resolve()
    for path, what in kept.items():
        where = path.resolve()
        same = target == where or (out.exists() and path.exists() and os.path.samefile(out, path))
        if same or target.is_relative_to(where):
            place = f"is {what} ({path})" if same else f"is inside {what} ({path})"
            raise OutputExistsError(
                f"{out} {place}: a backup never goes over the service's own files or into "
                "its stores; give a path outside them"
            )


@contextmanager
def _source_connection(source: Path) -> Iterator[sqlite3.Connection]:
    """`connect_read_only`, closed after use; a -wal and -shm its reading made beside a database
    that had no -wal (nothing had it open in WAL mode: a stopped service) go with it."""
    had_wal = os.path.lexists(_wal(source))
    connection = connect_read_only(source)
    try:
        yield connection
    finally:
        connection.close()
        if not had_wal:
            _close_wal(source)


def _close_wal(source: Path) -> None:
    """Remove an empty -wal of `source`, and its -shm, when no connection has them open, as
    SQLite does when the last connection closes: one more connection is opened and closed,
    and SQLite's own rule decides, so a service that has them open (it started meanwhile)
    keeps them. A -wal with commits (a service started and stopped meanwhile: our reading
    kept its close from checkpointing) stays, for the service's next start: the backup never
    writes the database file. Where the folder cannot be written, they stay too."""
    try:
        if not os.path.lexists(_wal(source)) or wal_holds_commits(source) or not writable(source):
            return
        connect_sqlite(f"{source.resolve().as_uri()}?mode=rw").close()
    except (sqlite3.DatabaseError, OSError) as exc:  # locked past the busy timeout, I/O
        logger.warning("the backup left %s-wal and -shm beside the database: %s", source, exc)


def _wal(source: Path) -> Path:
    return source.with_name(source.name + "-wal")


def _copy(connection: sqlite3.Connection, tmp: Path, *, source: Path) -> None:
    copy = sqlite3.connect(tmp)
    try:
        # pages=-1: every page in one step, so one read transaction: one snapshot.
        connection.backup(copy, pages=-1)
        copy.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorname in _WRITE_ERRORS:  # the source is only read: OUT's disk
            raise OutputPathError(  # tmp is beside OUT
                f"cannot write the backup in {tmp.parent}: {exc}; free space there or give a "
                "path on another disk (nothing was written)"
            ) from None
        raise DatabaseUnavailableError(
            f"cannot back up the database at {source}: {exc}; {FILE_HINT}"
        ) from None
    finally:
        copy.close()


def _verify(tmp: Path, *, expected: str | None, out: Path) -> str | None:
    """The copy's revision, once it passed `PRAGMA integrity_check` and matches `expected`."""
    copy = sqlite3.connect(f"{tmp.resolve().as_uri()}?mode=ro", uri=True)
    try:
        problems = [str(row[0]) for row in copy.execute("PRAGMA integrity_check")]
        revision = _revision(copy)
    except sqlite3.DatabaseError as exc:
        problems, revision = [str(exc)], None
    finally:
        copy.close()
    if problems != ["ok"]:
        raise BackupInvalidError(
            f"the copy for {out} fails SQLite's integrity check ({'; '.join(problems[:3])}), "
            "so the live database is damaged: nothing was written. Stop the service and run "
            "`PRAGMA integrity_check` on the database; restore the last good backup"
        )
    if revision != expected:
        raise BackupInvalidError(
            f"the copy for {out} is at migration {revision} but the database is now at "
            f"{expected} (it was upgraded during the backup): nothing was written; run it again"
        )
    return revision


def _revision(connection: sqlite3.Connection) -> str | None:
    """The Alembic revision of a raw connection's database; None: it has no version table."""
    found = connection.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (VERSION_TABLE,)
    ).fetchone()[0]
    if not found:
        return None
    row = connection.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
    return str(row[0]) if row else None
