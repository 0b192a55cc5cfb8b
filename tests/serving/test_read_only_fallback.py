"""connect_read_only's `immutable=1` fallback (serving/db/session.py) reads past SQLite's locks,
so it is refused where another process may be writing the database: one holding it locked
(`shanyraq db upgrade`, in exclusive locking mode) or one with a -shm beside it (the service,
run as another user). A stopped service's database is still read that way.

As in tests/serving/test_read_only_database.py, "this process cannot write the database" is
the write check patched (`session.writable`). A -shm that another user's process made and this
one may not read cannot be made here when the tests run as root (root reads any file): there
`mode=ro` fails with "unable to open database file" (SQLITE_CANTOPEN), as patched below."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.db import session
from serving.db.refusals import DatabaseBeingUpgradedError, DatabaseUnavailableError
from serving.db.session import connect_read_only


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """A WAL database with one row, closed (no -wal, no -shm: a stopped service's)."""
    file = tmp_path / "shanyraq.db"
    connection = sqlite3.connect(file)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE scratch (x INTEGER)")
    connection.execute("INSERT INTO scratch VALUES (1)")
    connection.commit()
    connection.close()
    assert not file.with_name("shanyraq.db-shm").exists()
    return file


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's busy timeout for the connections opened from now on: 0.1 s, not 30 s."""
    connect = sqlite3.connect

    def quick(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        return connect(*args, **{**kwargs, "timeout": 0.1})

    monkeypatch.setattr(sqlite3, "connect", quick)


@pytest.fixture
def upgrading(database: Path) -> Iterator[sqlite3.Connection]:
    """`db upgrade` mid-migration: exclusive locking mode, a write not yet committed (its -wal
    still empty, so the -wal check does not refuse a read)."""
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO scratch VALUES (2)")
    assert database.with_name("shanyraq.db-wal").stat().st_size == 0
    yield holder
    holder.execute("ROLLBACK")
    holder.close()


@pytest.mark.parametrize("can_write", [False, True])
def test_a_database_locked_by_an_upgrade_is_not_read_past_its_lock(
    database, upgrading, short_busy_timeout, monkeypatch, can_write
):
    monkeypatch.setattr(session, "writable", lambda path: can_write)
    with pytest.raises(DatabaseBeingUpgradedError) as refused:
        connect_read_only(database).close()
    assert "locked by another process" in refused.value.message
    assert "shanyraq db upgrade" in refused.value.message


def test_a_shm_this_process_cannot_use_refuses_the_read_past_locks(database, monkeypatch):
    """The service (another user) has the database open and idle: its -wal is empty (just
    checkpointed), its -shm is there, and this process may not read that -shm."""
    service = sqlite3.connect(database, isolation_level=None)
    try:
        service.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert database.with_name("shanyraq.db-shm").exists()
        assert database.with_name("shanyraq.db-wal").stat().st_size == 0
        connect = session.connect_sqlite

        def cannot_open_shm(uri: str) -> sqlite3.Connection:
            if uri.endswith("?mode=ro"):
                raise sqlite3.OperationalError("unable to open database file")
            return connect(uri)

        monkeypatch.setattr(session, "connect_sqlite", cannot_open_shm)
        monkeypatch.setattr(session, "writable", lambda path: False)
        with pytest.raises(DatabaseUnavailableError) as refused:
            connect_read_only(database).close()
    finally:
        service.close()
    message = refused.value.message
    assert "shanyraq.db-shm" in message
    assert "as the user the service runs as" in message and "copy" in message


def test_a_stopped_service_database_is_still_read_where_it_cannot_be_written(database, monkeypatch):
    monkeypatch.setattr(session, "writable", lambda path: False)
    connect = session.connect_sqlite
    opened: list[str] = []

    def cannot_make_shm(uri: str) -> sqlite3.Connection:
        opened.append(uri)
        if uri.endswith("?mode=ro"):  # SQLite's words where it cannot make the -shm
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return connect(uri)

    monkeypatch.setattr(session, "connect_sqlite", cannot_make_shm)
    connection = connect_read_only(database)
    try:
        assert connection.execute("SELECT x FROM scratch").fetchall() == [(1,)]
    finally:
        connection.close()
    assert opened[-1].endswith("?immutable=1")
