"""A backup leaves the live database's folder as it found it: a stopped WAL database gets no
-wal or -shm from the backup's own read, while a -wal that holds commits, or that a service
has open, is never removed (SQLite decides, on its own last-connection rule)."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving import db_backup
from serving.db_backup import backup_sqlite


def _wal_database(folder: Path) -> Path:
    """A WAL database with one row, every connection closed (as after the service stopped)."""
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "shanyraq.db"
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE scratch (id INTEGER PRIMARY KEY)")
    connection.execute("INSERT INTO scratch DEFAULT VALUES")
    connection.commit()
    connection.close()
    return database


def _listing(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def _rows(database: Path) -> list[Any]:
    copy = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return copy.execute("SELECT id FROM scratch ORDER BY id").fetchall()
    finally:
        copy.close()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A running service's connection on a WAL database: its commits stay in the -wal (no
    checkpoint), and it keeps the -wal and -shm open."""
    database = _wal_database(tmp_path / "data")
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.execute("INSERT INTO scratch DEFAULT VALUES")
    yield connection
    connection.close()


def test_a_stopped_wal_database_is_left_as_it_was(tmp_path):
    database = _wal_database(tmp_path / "data")
    before = _listing(database.parent)
    assert list(before) == ["shanyraq.db"]  # the last connection to close removed -wal, -shm

    backup_sqlite(f"sqlite:///{database}", tmp_path / "copy.db")

    assert _listing(database.parent) == before  # no -wal, no -shm, the file unchanged
    assert _rows(tmp_path / "copy.db") == [(1,)]


def test_a_running_services_wal_keeps_its_commits(tmp_path, service):
    database = tmp_path / "data" / "shanyraq.db"
    wal = database.with_name("shanyraq.db-wal")
    before = wal.read_bytes()
    assert before  # row 2 is in the -wal only

    backup_sqlite(f"sqlite:///{database}", tmp_path / "copy.db")

    assert sorted(_listing(database.parent)) == [
        "shanyraq.db",
        "shanyraq.db-shm",
        "shanyraq.db-wal",
    ]
    assert wal.read_bytes() == before
    assert _rows(tmp_path / "copy.db") == [(1,), (2,)]
    service.execute("INSERT INTO scratch DEFAULT VALUES")  # the service goes on
    assert service.execute("SELECT count(*) FROM scratch").fetchone() == (3,)


def test_a_service_that_starts_during_the_backup_keeps_its_wal(tmp_path, monkeypatch):
    database = _wal_database(tmp_path / "data")
    started: list[sqlite3.Connection] = []
    copy = db_backup._copy

    def copy_then_a_service_starts(connection: Any, tmp: Path, *, source: Path) -> None:
        copy(connection, tmp, source=source)
        writer = sqlite3.connect(database, isolation_level=None)
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("INSERT INTO scratch DEFAULT VALUES")  # row 2, in its -wal only
        started.append(writer)

    monkeypatch.setattr(db_backup, "_copy", copy_then_a_service_starts)
    backup_sqlite(f"sqlite:///{database}", tmp_path / "copy.db")
    (writer,) = started
    try:
        names = sorted(_listing(database.parent))
        assert names == ["shanyraq.db", "shanyraq.db-shm", "shanyraq.db-wal"]  # still its own
        assert writer.execute("SELECT count(*) FROM scratch").fetchone() == (2,)
    finally:
        writer.close()
    assert _rows(database) == [(1,), (2,)]  # its commit reached the database file
    assert _rows(tmp_path / "copy.db") == [(1,)]  # the snapshot before it


def test_a_service_that_starts_and_stops_during_the_backup_keeps_its_commits(tmp_path, monkeypatch):
    """Its close could not checkpoint while the backup read: its -wal holds its commit, and
    stays for its next start (the backup writes nothing into the database file)."""
    database = _wal_database(tmp_path / "data")
    before = database.read_bytes()
    copy = db_backup._copy

    def copy_while_a_service_starts_and_stops(connection: Any, tmp: Path, *, source: Path) -> None:
        copy(connection, tmp, source=source)
        with sqlite3.connect(database) as writer:
            writer.execute("INSERT INTO scratch DEFAULT VALUES")  # row 2
        writer.close()

    monkeypatch.setattr(db_backup, "_copy", copy_while_a_service_starts_and_stops)
    backup_sqlite(f"sqlite:///{database}", tmp_path / "copy.db")

    assert database.read_bytes() == before
    assert database.with_name("shanyraq.db-wal").stat().st_size > 0
    assert _rows(database) == [(1,), (2,)]  # nothing lost: the next reader sees it


def test_a_wal_left_with_commits_by_a_crash_is_kept(tmp_path, service):
    """A -wal with commits nothing has open (the service was killed): the backup copies its
    commits and leaves it; only the service's next start checkpoints it."""
    live, crashed = tmp_path / "data", tmp_path / "crashed"
    crashed.mkdir()
    for name in ("shanyraq.db", "shanyraq.db-wal", "shanyraq.db-shm"):
        shutil.copyfile(live / name, crashed / name)  # the files as a kill left them
    database = crashed / "shanyraq.db"
    before = _listing(crashed)

    backup_sqlite(f"sqlite:///{database}", tmp_path / "copy.db")

    after = _listing(crashed)
    assert sorted(after) == sorted(before)
    for name in ("shanyraq.db", "shanyraq.db-wal"):
        assert after[name] == before[name], name
    assert _rows(tmp_path / "copy.db") == [(1,), (2,)]
