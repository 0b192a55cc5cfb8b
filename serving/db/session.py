"""Database engine and sessions: SQLite (WAL, synchronous=FULL) by default, PostgreSQL at scale.

A read-only engine on a SQLite file this process cannot write (a read-only mount, a snapshot,
an immutable file) connects as `connect_read_only` does: SQLite's usual way to read a WAL
database makes a -shm file beside it, which cannot be made there.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from serving.data_dir import make_private_dir, make_private_file
from serving.db.refusals import (
    FILE_HINT,
    URL_HINT,
    DatabaseBeingUpgradedError,
    DatabaseMissingError,
    DatabaseUnavailableError,
    database_locked,
    server_refusal,
)
from shanyraq.errors import ShanyraqError


class ReadOnlySessionError(RuntimeError):
    """A read-only session was asked to write (a programming error, never user input)."""


def _sqlite_setup(engine: Engine, *, read_only: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not read_only:
            # WAL is a setting of the file, kept once set: setting it writes the file, which
            # a read-only engine must never do. The service's writing engine connects first
            # (its start-up reads the reuse index through it), so reads find WAL already.
            cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed transaction survives power loss, so a 201 means durable.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock at the start: a transaction that read first and
        # wrote later could otherwise fail with SQLITE_BUSY when another writer committed.
        # The read engine begins deferred: in WAL mode it reads a snapshot without the write
        # lock, so checking a token or a region never queues behind uploads.
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def writable(path: Path) -> bool:
    """Whether this process may write `path` and make files beside it (-wal, -shm; beside
    the file a link leads to, as SQLite puts them)."""
    real = path.resolve()
    return os.access(real, os.W_OK) and os.access(real.parent, os.W_OK)


def wal_holds_commits(file: Path) -> bool:
    """Whether the SQLite database `file` has a -wal beside it with commits in it (beside the
    file a link leads to, as SQLite puts it)."""
    real = file.resolve()
    wal = real.with_name(real.name + "-wal")
    return wal.exists() and wal.stat().st_size > 0


def connect_sqlite(uri: str) -> sqlite3.Connection:
    """A connection on a `file:` URI, opened now (SQLite opens lazily), or its error."""
    connection = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        connection.close()
        raise
    return connection


def connect_read_only(file: Path) -> sqlite3.Connection:
    """A connection that cannot write the SQLite database `file`, or DatabaseUnavailableError.

    `mode=ro` first. Where this process cannot write `file` or its folder, a WAL database
    cannot be opened that way without its -shm file (SQLite must make it); there it is opened
    `immutable=1`, which bypasses SQLite's locks and assumes no process writes the file: so
    it is refused where one may (`_refuse_live_writer`), or where a -wal holds commits that
    only a connection with a -shm reads. A process that starts writing after this check (the
    service started meanwhile) is not seen: read a stopped service's database, or a copy.
    """
    uri = file.resolve().as_uri()
    try:
        return connect_sqlite(f"{uri}?mode=ro")
    except sqlite3.OperationalError as exc:
        if database_locked(exc):  # held past the busy timeout, as `unavailable` tells
            raise DatabaseBeingUpgradedError(
                f"the database at {file} is locked by another process: it is being upgraded (or "
                "another command holds it); try again when `shanyraq db upgrade` has finished"
            ) from None
        if writable(file):
            raise DatabaseUnavailableError(
                f"cannot read the database at {file}: {exc}; {FILE_HINT}"
            ) from None
        if wal_holds_commits(file):
            raise DatabaseUnavailableError(
                f"cannot read the database at {file} here: this process cannot write it or "
                f"its folder (a read-only file system?), and {file.name}-wal beside it holds "
                "commits SQLite can read only with a -shm file it would have to make; copy the "
                "data folder somewhere writable and run the command on the copy"
            ) from None
        _refuse_live_writer(file)
    except sqlite3.DatabaseError as exc:  # not a database: no other way opens it either
        raise DatabaseUnavailableError(
            f"cannot read the database at {file}: {exc}; {FILE_HINT}"
        ) from None
    try:
        return connect_sqlite(f"{uri}?immutable=1")
    except sqlite3.DatabaseError as exc:
        raise DatabaseUnavailableError(
            f"cannot read the database at {file} (read-only here): {exc}; {FILE_HINT}"
        ) from None


def _refuse_live_writer(file: Path) -> None:
    """DatabaseUnavailableError when a -shm lies beside `file` (as SQLite puts it): a process
    (the service, run as another user) may have the database open and be writing it, and
    `mode=ro` could not use that -shm (this process may not read it), so a read past SQLite's
    locks could see a write half made. The last connection to close removes its -shm."""
    real = file.resolve()
    if os.path.lexists(real.with_name(real.name + "-shm")):
        raise DatabaseUnavailableError(
            f"cannot read the database at {file} here: this process cannot write it or its "
            f"folder, nor use {file.name}-shm beside it, so another process (the service, run "
            "as another user) may be writing it, and reading it past its locks could see a "
            "write half made; run the command as the user the service runs as, or on a copy "
            "of the data folder made while the service is stopped"
        )


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# What this version's connections to PostgreSQL call themselves (application_name).
APPLICATION_NAME = "shanyraq"


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """The engine for `url`; on SQLite, `read_only` gives the separate engine for reads.

    SQLite has one writer at a time. Writers therefore share one pooled connection and
    queue for it in order; left to SQLite's busy handler they would sleep and retry (up to
    100 ms a try), which under concurrent uploads costs more than the writes themselves.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        file = sqlite_file(parsed)
        if not read_only and file is not None:
            # Personal data: a new database (and the folder made for it) is private.
            make_private_dir(file.parent)
            make_private_file(file)
        pool: dict[str, Any] = (
            {} if read_only else {"pool_size": 1, "max_overflow": 0, "pool_timeout": 30}
        )
        if read_only and file is not None and file.is_file() and not writable(file):
            pool["creator"] = functools.partial(connect_read_only, file)  # module docstring
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **pool
        )  # fmt: skip
        _sqlite_setup(engine, read_only=read_only)
        return engine
    # Named in pg_stat_activity (`db upgrade` looks for the service's sessions), unless the
    # URL names its connections itself.
    named = {} if "application_name" in parsed.query else {"application_name": APPLICATION_NAME}
    return create_engine(
        url, connect_args=named, pool_pre_ping=True, pool_size=10, max_overflow=20
    )  # fmt: skip


def parse_url(url: str) -> URL:
    """`url` parsed, or DatabaseUnavailableError (the URL itself is not shown: it may hold a
    password in a form the parser could not find)."""
    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        raise DatabaseUnavailableError(
            "the database URL cannot be parsed; write it as "
            "postgresql+psycopg://USER@HOST:PORT/NAME or sqlite:///PATH, and " + URL_HINT
        ) from None


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL; None for another database or an in-memory one."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def shown_database(url: URL) -> str:
    """Where the database at `url` is, as a refusal or report shows it: a SQLite file's
    address with its path as written (a folder `site o'neil` reads so, not %-encoded as the
    URL's own rendering has it), another database's URL with its password hidden."""
    rendered = url.render_as_string(hide_password=True)
    if url.get_backend_name() != "sqlite" or not url.database:
        return rendered
    # The rendering %-encodes a "?" in the path, so its first one begins the query.
    query = rendered.partition("?")[2]
    return f"{url.drivername}:///{url.database}" + (f"?{query}" if query else "")


def open_engine(url: str, *, create: bool, read_only: bool = False) -> Engine:
    """`make_engine(url)` once a first connection worked; each way it fails is one clear error.

    `create` False refuses a SQLite file that does not exist before anything is made (the
    first connection would make an empty one, and its folder). A database server that is
    down, a wrong password, a missing driver or a malformed URL: DatabaseUnavailableError;
    a SQLite database locked past its busy timeout: DatabaseBeingUpgradedError (`unavailable`).
    """
    parsed = parse_url(url)
    file = sqlite_file(parsed)
    if file is not None and not create:
        if not file.is_file():
            raise DatabaseMissingError(f"no database at {file}; {FILE_HINT}")
        if file.stat().st_size == 0:  # the first connection would write a database into it
            raise DatabaseMissingError(f"{file} is empty, not a database; {FILE_HINT}")
    try:
        engine = make_engine(url, read_only=read_only)
    except (NoSuchModuleError, ImportError) as exc:
        raise DatabaseUnavailableError(
            f"cannot open the database at {shown_database(parsed)}: no "
            f"installed driver for {parsed.drivername!r} ({exc}); {URL_HINT}"
        ) from None
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        engine.dispose()
        raise unavailable(engine, exc, doing="open") from None
    except BaseException:  # connect_read_only's own clear error
        engine.dispose()
        raise
    return engine


def unavailable(where: Engine | URL, exc: DBAPIError, *, doing: str) -> ShanyraqError:
    """The clear error for a driver's failure on the database at `where`: its first line, no
    traceback, and what to do. A SQLite database locked past the busy timeout is
    DatabaseBeingUpgradedError (`database_locked`); on PostgreSQL a refused privilege or a
    statement the server cut short says so (serving.db.refusals.server_refusal)."""
    url = where if isinstance(where, URL) else where.url
    shown = shown_database(url)
    if database_locked(exc):
        return DatabaseBeingUpgradedError(
            f"the database at {shown} is locked by another process: it is being upgraded (or "
            "another command holds it); try again when `shanyraq db upgrade` has finished"
        )
    reason = (str(exc.orig or exc).strip().splitlines() or [type(exc).__name__])[0]
    file = sqlite_file(url)
    if doing != "read" and file is not None and file.is_file() and not writable(file):
        return DatabaseUnavailableError(
            f"cannot {doing} the database at {shown}: {reason}; this process cannot write "
            f"{file} or its folder (a read-only file system, or their permissions), and this "
            "command writes to it: run it where the database can be written"
        )
    refusal = server_refusal(exc, url.username or "this role")
    where_hint = (
        "that the file is the service's SQLite database"
        if file is not None
        else "that the database server is running"
    )
    return DatabaseUnavailableError(
        f"cannot {doing} the database at {shown}: {reason}; "
        + (refusal or f"{URL_HINT}, and {where_hint}")
    )


def make_read_engine(engine: Engine) -> Engine:
    """Where reads go: a deferred-transaction engine on a SQLite file, else `engine` itself."""
    url = engine.url.render_as_string(hide_password=False)
    if is_sqlite(url) and engine.url.database not in (None, "", ":memory:"):
        return make_engine(url, read_only=True)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def make_read_session_factory(read_engine: Engine) -> sessionmaker[Session]:
    """Sessions for reads only (on `make_read_engine`'s engine); a flush of a change is refused."""
    factory = sessionmaker(read_engine, expire_on_commit=False)

    @event.listens_for(factory, "before_flush")
    def _refuse_writes(session: Session, _context: Any, _instances: Any) -> None:
        if session.new or session.dirty or session.deleted:
            raise ReadOnlySessionError("a read-only session cannot write; use a write session")

    return factory


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
