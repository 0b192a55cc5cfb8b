"""`shanyraq db backup OUT` (helper-184 review): a destination disk that fills up mid-copy
names the destination, not the live database and the config; an OUT below a file is an
output path error; the advice for PostgreSQL keeps the password off pg_dump's command line
and gives it a URL it accepts."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from serving.db_backup import backup_sqlite
from shanyraq.atomic import TEMP_SUFFIX
from shanyraq.errors import OutputPathError
from tests.serving.backup_helpers import backup_config
from tests.serving.cli_helpers import error_code, run_cli


def _database(tmp_path: Path) -> Path:
    database = tmp_path / "data" / "shanyraq.db"
    database.parent.mkdir()
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE families (id INTEGER PRIMARY KEY, name TEXT)")
        connection.executemany("INSERT INTO families (name) VALUES (?)", [("x" * 900,)] * 50)
    connection.close()
    return database


def test_a_full_destination_disk_names_the_destination_and_keeps_nothing(tmp_path, monkeypatch):
    """As on a full disk (checked by hand on a 64 KiB tmpfs): SQLite's `database or disk is
    full` while the copy is written is about OUT's disk; the live database is fine."""
    connect = sqlite3.connect

    def full_disk_for_the_copy(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = connect(database, *args, **kwargs)
        if str(database).endswith(TEMP_SUFFIX):  # the copy being written, not the source
            connection.execute("PRAGMA max_page_count=2")  # SQLITE_FULL past two pages
        return connection

    monkeypatch.setattr(sqlite3, "connect", full_disk_for_the_copy)
    database = _database(tmp_path)
    out = tmp_path / "backups" / "copy.db"
    with pytest.raises(OutputPathError) as refused:
        backup_sqlite(f"sqlite:///{database}", out)
    message = refused.value.message
    assert str(out.parent) in message and "full" in message
    assert str(database) not in message and "--config" not in message
    assert list(out.parent.iterdir()) == []


def test_an_out_below_a_file_is_an_output_path_error(tmp_path):
    database = _database(tmp_path)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    with pytest.raises(OutputPathError) as refused:
        backup_sqlite(f"sqlite:///{database}", a_file / "backups" / "copy.db")
    assert str(a_file) in refused.value.message and "folder" in refused.value.message
    assert a_file.read_text() == "not a folder"


def test_the_pg_dump_advice_keeps_the_password_off_the_command_line(tmp_path, monkeypatch):
    """A password in pg_dump's URL argument is visible to every user in `ps`; and pg_dump
    does not take SQLAlchemy's `postgresql+psycopg://` form."""
    monkeypatch.setenv(
        "SHANYRAQ_SERVING__DATABASE_URL", "postgresql+psycopg://shanyraq:s3cret@127.0.0.1:1/x"
    )
    result = run_cli("db", "backup", tmp_path / "copy.db", "--config", backup_config(tmp_path))
    assert error_code(result) == "backup_unsupported"
    message = str(result.exception)
    assert "PGPASSWORD" in message and ".pgpass" in message
    assert "postgresql://USER@HOST:PORT/NAME" in message
    assert "+psycopg" not in message.split("pg_dump", 1)[1]


def test_a_database_of_newer_code_is_copied_and_not_audited_as_newer(tmp_path, live):
    # It is ahead, not behind: `db upgrade` would refuse it, so the note must not send there.
    with sqlite3.connect(tmp_path / "data" / "shanyraq.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999zz'")
    connection.close()
    made = run_cli("db", "backup", tmp_path / "copy.db", "--config", live)
    assert made.exit_code == 0, made.output
    assert "not audited: the database is at migration 9999zz, newer than this version" in (
        made.output
    )
    assert "db upgrade" not in made.output
