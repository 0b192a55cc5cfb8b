"""`shanyraq db backup OUT` and `db upgrade` (helper-21 review) on a SQLite database reached
through a symbolic link: SQLite follows the link and keeps the -wal and -shm beside the file
it leads to, so the backup refuses an OUT at that live -wal, leaves a stopped service's folder
as it found it, and `db upgrade` sees the service that has the database open."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.db_backup import backup_sqlite
from serving.sqlite_holders import sqlite_holder
from shanyraq.errors import OutputExistsError
from tests.serving.cli_helpers import holding_open


@pytest.fixture
def linked(tmp_path: Path) -> Path:
    """A WAL database in real/ with one row, reached through the link data/shanyraq.db."""
    (tmp_path / "real").mkdir()
    (tmp_path / "data").mkdir()
    link = tmp_path / "data" / "shanyraq.db"
    link.symlink_to(tmp_path / "real" / "shanyraq.db")
    connection = sqlite3.connect(link)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE families (id INTEGER PRIMARY KEY, name TEXT)")
        connection.execute("INSERT INTO families (name) VALUES ('first')")
        connection.commit()
    finally:
        connection.close()
    return link


@pytest.fixture
def service(linked: Path) -> Iterator[sqlite3.Connection]:
    """A connection through the link, as the service's, with a commit still in the -wal."""
    connection = sqlite3.connect(linked)
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.execute("INSERT INTO families (name) VALUES ('in the wal')")
    connection.commit()
    yield connection
    connection.close()


def _url(link: Path) -> str:
    return f"sqlite:///{link}"


def test_an_out_at_the_live_wal_beside_the_linked_file_is_refused(tmp_path, linked, service):
    wal = tmp_path / "real" / "shanyraq.db-wal"
    before = wal.read_bytes()
    assert before  # the service's commit is there

    with pytest.raises(OutputExistsError, match="-wal file"):
        backup_sqlite(_url(linked), wal, overwrite=True)

    assert wal.read_bytes() == before
    names = [row[0] for row in service.execute("SELECT name FROM families ORDER BY id")]
    assert names == ["first", "in the wal"]


def test_a_stopped_linked_wal_database_is_left_as_it_was(tmp_path, linked):
    backup_sqlite(_url(linked), tmp_path / "backup.db")

    assert sorted(entry.name for entry in (tmp_path / "real").iterdir()) == ["shanyraq.db"]
    assert sorted(entry.name for entry in (tmp_path / "data").iterdir()) == ["shanyraq.db"]


def test_upgrade_sees_a_process_that_has_the_linked_database_open(linked):
    assert sqlite_holder(linked) is None
    with holding_open(linked) as pid:
        assert sqlite_holder(linked) == pid


def test_a_linked_database_s_wal_is_looked_for_beside_the_file_linked_to(tmp_path):
    # Before: serving.db.session looked beside the link, so a read-only reader of a linked
    # database took a -wal with commits in it for none (and opened the file as immutable).
    import sqlite3

    from serving.db.session import wal_holds_commits

    (tmp_path / "real").mkdir()
    (tmp_path / "data").mkdir()
    real, link = tmp_path / "real" / "x.db", tmp_path / "data" / "x.db"
    link.symlink_to(real)
    writer = sqlite3.connect(link)
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("CREATE TABLE t (x)")
        writer.execute("INSERT INTO t VALUES (1)")
        writer.commit()
        assert (tmp_path / "real" / "x.db-wal").stat().st_size > 0
        assert wal_holds_commits(link)
    finally:
        writer.close()
