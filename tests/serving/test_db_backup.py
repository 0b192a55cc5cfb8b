"""`shanyraq db backup OUT`: a consistent copy of the live SQLite database while another
connection writes, verified, written atomically, audited where the database can be written,
usable as the service's database; an existing OUT, a damaged database and PostgreSQL are
refused."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from serving.migrations import alembic_config, upgrade
from tests.serving.backup_helpers import ask_sqlite, audited_actions, backup_config, live_database
from tests.serving.cli_helpers import error_code, run_cli


def _head() -> str:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head() or ""


def test_a_backup_during_an_open_write_transaction_neither_waits_nor_copies_it(tmp_path, live):
    """The library call alone: the command's audit entry would wait for the writer's lock."""
    from serving.db_backup import backup_sqlite

    database, out = live_database(tmp_path), tmp_path / "backups" / "copy.db"
    writer = sqlite3.connect(database, isolation_level=None, timeout=30)
    writer.execute("BEGIN IMMEDIATE")  # the write lock, held across the backup
    writer.execute("CREATE TABLE scratch (id INTEGER PRIMARY KEY)")
    writer.execute("INSERT INTO scratch DEFAULT VALUES")
    try:
        made = backup_sqlite(f"sqlite:///{database}", out)
    finally:
        writer.execute("COMMIT")
        writer.close()

    assert (made.path, made.size_bytes, made.revision) == (out, out.stat().st_size, _head())
    assert ask_sqlite(out, "PRAGMA integrity_check") == [("ok",)]
    assert (
        ask_sqlite(out, "SELECT name FROM sqlite_master WHERE name = 'scratch'") == []
    )  # uncommitted
    assert ask_sqlite(out, "SELECT username FROM users") == [("amina",)]
    assert ask_sqlite(out, "PRAGMA journal_mode") == [("delete",)]  # one file, no -wal beside it
    assert sorted(p.name for p in out.parent.iterdir()) == ["copy.db"]  # no temporary left


def test_a_backup_is_audited_and_is_a_usable_service_database(tmp_path, live):
    database, out = live_database(tmp_path), tmp_path / "backups" / "copy.db"
    made = run_cli("db", "backup", out, "--config", live)

    assert made.exit_code == 0, made.output
    assert f"backup written: {out}" in made.output and f"migration {_head()}" in made.output
    for reminder in ("photo store: ", "signing key: ", "audit anchor: "):
        assert reminder in made.output
    assert ask_sqlite(out, "SELECT version_num FROM alembic_version") == [(_head(),)]
    assert audited_actions(database)[-1] == (
        "database_backed_up",
        {"path": str(out.resolve()), "size_bytes": out.stat().st_size, "revision": _head()},
    )
    assert "audited: database_backed_up" in made.output
    assert run_cli("audit", "verify", "--config", live).exit_code == 0

    # Restored: the copy is the service's database (its log ends before the backup's own
    # entry, so it gets an anchor file of its own; see README).
    restored = backup_config(
        tmp_path / "backups", url=f"sqlite:///{out}", anchor=tmp_path / "new.log"
    )
    assert run_cli("db", "status", "--config", restored).exit_code == 0
    verified = run_cli("audit", "verify", "--config", restored)
    assert verified.exit_code == 0, verified.output
    assert "audit log intact: 1 entries" in verified.output


def test_an_existing_out_is_kept_unless_overwrite(tmp_path, live):
    out = tmp_path / "copy.db"
    out.write_bytes(b"an older backup")
    refused = run_cli("db", "backup", out, "--config", live)
    assert error_code(refused) == "output_exists" and "--overwrite" in str(refused.exception)
    assert out.read_bytes() == b"an older backup"
    itself = run_cli("db", "backup", live_database(tmp_path), "--overwrite", "--config", live)
    assert error_code(itself) == "output_exists" and "live database" in str(itself.exception)

    replaced = run_cli("db", "backup", out, "--overwrite", "--config", live)
    assert replaced.exit_code == 0, replaced.output
    assert ask_sqlite(out, "PRAGMA integrity_check") == [("ok",)]


@pytest.fixture
def committing(tmp_path: Path, live: Path) -> Iterator[threading.Event]:
    """Another connection committing rows 1, 2, 3, ... into `scratch` until told to stop;
    yields once its first row is committed."""
    database = live_database(tmp_path)
    with sqlite3.connect(database) as setup:
        setup.execute("CREATE TABLE scratch (id INTEGER PRIMARY KEY)")
    setup.close()
    started, stop = threading.Event(), threading.Event()

    def write() -> None:
        connection = sqlite3.connect(database, isolation_level=None, timeout=30)
        while not stop.is_set():
            connection.execute("INSERT INTO scratch DEFAULT VALUES")
            started.set()
        connection.close()

    thread = threading.Thread(target=write)
    thread.start()
    started.wait()
    yield stop
    stop.set()
    thread.join()


def test_a_backup_while_another_connection_commits_is_one_snapshot(tmp_path, committing):
    from serving.db_backup import backup_sqlite

    out = tmp_path / "copy.db"
    backup_sqlite(f"sqlite:///{live_database(tmp_path)}", out)
    committing.set()
    assert ask_sqlite(out, "PRAGMA integrity_check") == [("ok",)]
    (count, last), = ask_sqlite(out, "SELECT count(*), max(id) FROM scratch")  # fmt: skip
    assert count >= 1 and count == last  # rows 1..n: whole commits, none half-copied


def test_a_damaged_database_is_refused_and_nothing_is_written(tmp_path, live):
    database = live_database(tmp_path)
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE scratch (id INTEGER PRIMARY KEY, label TEXT)")
        connection.execute("CREATE INDEX scratch_label ON scratch (label)")
        connection.executemany("INSERT INTO scratch (label) VALUES (?)", [("a",), ("b",)])
        # An index that no longer matches its table, as a damaged file has.
        connection.execute("PRAGMA writable_schema=ON")
        connection.execute(
            "UPDATE sqlite_master SET sql = 'CREATE INDEX scratch_label ON scratch (id)' "
            "WHERE name = 'scratch_label'"
        )
    connection.close()
    out = tmp_path / "backups" / "copy.db"
    result = run_cli("db", "backup", out, "--config", live)
    assert error_code(result) == "backup_invalid", result.output
    assert "missing from index" in str(result.exception)
    assert list(out.parent.iterdir()) == []


def test_a_database_behind_this_version_is_copied_and_not_audited(tmp_path):
    config = backup_config(tmp_path)
    upgrade(f"sqlite:///{live_database(tmp_path)}", "0005")
    out = tmp_path / "copy.db"
    made = run_cli("db", "backup", out, "--config", config)
    assert made.exit_code == 0, made.output
    assert "not audited: the database is behind this version" in made.output
    assert ask_sqlite(out, "SELECT version_num FROM alembic_version") == [("0005",)]
    assert ask_sqlite(live_database(tmp_path), "SELECT version_num FROM alembic_version") == [
        ("0005",)
    ]


def _immutable(*paths: Path, on: bool) -> None:
    for path in paths:
        subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True)


def test_a_read_only_database_is_copied_and_not_audited(tmp_path, live):
    """As from a read-only mount: the WAL database cannot be opened read-only the usual way
    (no -shm file can be made) and nothing can be appended to its log."""
    database = live_database(tmp_path)
    entries = audited_actions(database)
    closing = sqlite3.connect(database)  # the last connection to close removes -wal and -shm
    closing.execute("SELECT count(*) FROM sqlite_master").fetchone()
    closing.close()
    assert sorted(p.name for p in database.parent.iterdir()) == ["shanyraq.db"]  # as after a stop
    try:
        _immutable(database, database.parent, on=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("cannot make files immutable here (chattr needs root on a supporting fs)")
    try:
        out = tmp_path / "copy.db"
        made = run_cli("db", "backup", out, "--config", live)
    finally:
        _immutable(database, database.parent, on=False)
    assert made.exit_code == 0, made.output
    assert "not audited: the database is read-only here" in made.output
    assert ask_sqlite(out, "PRAGMA integrity_check") == [("ok",)]
    assert audited_actions(out) == entries == audited_actions(database)


def test_postgresql_is_refused_before_connecting(tmp_path, monkeypatch):
    monkeypatch.setenv(
        "SHANYRAQ_SERVING__DATABASE_URL", "postgresql+psycopg://shanyraq:s3cret@127.0.0.1:1/x"
    )  # nothing listens on port 1: a connection attempt would be database_unavailable
    out = tmp_path / "copy.db"
    result = run_cli("db", "backup", out, "--config", backup_config(tmp_path))
    assert error_code(result) == "backup_unsupported"
    message = str(result.exception)
    assert "pg_dump" in message and "s3cret" not in message
    assert not out.exists()


def test_the_copy_is_private_like_the_database(tmp_path, live):
    """The copy holds what the live database holds (records, decisions, password hashes): a
    new folder for it is 0700 and the file 0600, also when it replaces an older copy."""
    import os
    import stat

    old_umask = os.umask(0o022)  # a usual umask: files 0644 unless made otherwise
    try:
        out = tmp_path / "backups" / "copy.db"
        made = run_cli("db", "backup", out, "--config", live)
        assert made.exit_code == 0, made.output
        assert stat.S_IMODE(out.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(out.stat().st_mode) == 0o600

        out.chmod(0o644)  # an older copy someone left open
        replaced = run_cli("db", "backup", out, "--overwrite", "--config", live)
        assert replaced.exit_code == 0, replaced.output
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
    finally:
        os.umask(old_umask)
