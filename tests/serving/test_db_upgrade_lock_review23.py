"""Review of `db upgrade` under one lock (serving/db_upgrade.py): a failure in the last
migration, or the upgrade killed halfway, leaves the database as it was, at the old schema,
in WAL mode, and openable as usual; on PostgreSQL a start-up migration that fails rolls back
the alembic_version table it made."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from serving.cli import check_database, load_settings
from serving.db.session import make_engine
from serving.db_cli import upgrade_database
from serving.db_upgrade import DatabaseInUseError
from serving.migrations import MigrationFailedError, open_database
from shanyraq.errors import ShanyraqError
from tests.serving.cli_helpers import (
    OLD_REVISION,
    audit_entries_at,
    database_behind,
    head_revision,
    schema_revision,
    sqlite_url,
)
from tests.serving.helpers import fresh_postgres_db
from tests.serving.migration_helpers import Injected, columns, downgrade, failing_last_migration

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 120  # a bound on waits that end on an event, so a broken run fails, not hangs


def _upgrade_rolled_back_whole(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch, *, force: bool = False
) -> None:
    settings = load_settings(database_behind(tmp_path, url))
    before = [entry.seq for entry in audit_entries_at(url)]
    anchor = settings.resolved_audit_anchor_file
    anchored = anchor.read_bytes() if anchor.exists() else b""
    assert "seen_decision_id" not in columns(url, "decisions")

    with monkeypatch.context() as patch:
        failing_last_migration(patch)
        with pytest.raises(MigrationFailedError) as failed:
            upgrade_database(settings, force=force)
        assert isinstance(failed.value.__cause__, Injected)

    assert schema_revision(url) == OLD_REVISION
    assert "seen_decision_id" not in columns(url, "decisions")  # 0013's column: rolled back
    assert "model_artifact" not in columns(url, "rescore_runs")  # 0009's: rolled back too
    assert [entry.seq for entry in audit_entries_at(url)] == before  # no database_upgraded entry
    assert (anchor.read_bytes() if anchor.exists() else b"") == anchored  # nor its anchor line
    assert upgrade_database(settings).after == head_revision()  # and it upgrades cleanly after


@pytest.mark.parametrize("force", [False, True])
def test_sqlite_a_failure_in_the_last_migration_leaves_the_old_schema(tmp_path, monkeypatch, force):
    _upgrade_rolled_back_whole(tmp_path, sqlite_url(tmp_path), monkeypatch, force=force)


def test_postgresql_a_failure_in_the_last_migration_leaves_the_old_schema(
    tmp_path, monkeypatch, postgres_server
):
    _upgrade_rolled_back_whole(tmp_path, fresh_postgres_db(postgres_server), monkeypatch)


def test_postgresql_a_failed_first_migration_leaves_no_alembic_version(
    monkeypatch, postgres_server
):
    url = fresh_postgres_db(postgres_server)
    failing_last_migration(monkeypatch)
    with pytest.raises(MigrationFailedError) as failed:
        open_database(url, create=True, migrate=True)
    assert isinstance(failed.value.__cause__, Injected)
    engine = make_engine(url)
    try:
        assert inspect(engine).get_table_names() == []  # alembic_version included
    finally:
        engine.dispose()


# A `db upgrade` run as its own process, held once it has migrated to 0009 inside its
# transaction (exclusive lock held), until it is killed.
_HELD_UPGRADE = textwrap.dedent(
    """
    import sys
    from alembic import command
    from serving.cli import load_settings
    from serving.db_upgrade import upgrade_database

    real = command.upgrade

    def upgrade(config, revision, **kwargs):
        real(config, "0009", **kwargs)
        print("held", flush=True)
        sys.stdin.read()  # until killed

    command.upgrade = upgrade
    upgrade_database(load_settings(sys.argv[1]))
    """
)


def test_sqlite_an_upgrade_killed_halfway_leaves_the_old_schema(tmp_path):
    url = sqlite_url(tmp_path)
    config = database_behind(tmp_path, url)
    database = tmp_path / "data" / "shanyraq.db"

    held = subprocess.Popen(
        [sys.executable, "-c", _HELD_UPGRADE, str(config)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        assert held.stdout is not None and held.stdout.readline() == "held\n"
    finally:
        held.send_signal(signal.SIGKILL)
        held.wait(timeout=WAIT_S)

    assert schema_revision(url) == OLD_REVISION
    assert "model_artifact" not in columns(url, "rescore_runs")  # 0009's: never committed
    connection = sqlite3.connect(database)  # still WAL: the service opens it as usual
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        connection.close()
    settings = load_settings(config)
    with pytest.raises(ShanyraqError) as refused:
        check_database(settings, may_create=True, migrate=False)
    assert refused.value.code == "database_not_migrated"  # not locked, not broken
    assert upgrade_database(settings).after == head_revision()
    check_database(settings, may_create=True, migrate=False)


# --- PostgreSQL: a start at the head takes no exclusive lock --------------------------------


def test_postgresql_a_start_at_the_head_does_not_queue_behind_a_reader(postgres_server):
    # Before: every migrating start locked alembic_version ACCESS EXCLUSIVE, even with nothing
    # to migrate, so it waited for any transaction that had read the table (pg_dump holds
    # ACCESS SHARE on every table until the dump ends) and every later reader queued behind it.
    import psycopg

    url = fresh_postgres_db(postgres_server)
    open_database(url, create=True, migrate=True).dispose()  # at the head
    reader = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        reader.execute("SELECT * FROM alembic_version").fetchall()  # its transaction stays open
        # Bounded: a lock still waited for after 2 s fails the test instead of hanging it.
        bounded = f"{url}?options=-c%20lock_timeout%3D2000"
        open_database(bounded, create=False, migrate=True).dispose()
    finally:
        reader.close()
    assert schema_revision(url) == head_revision()


def test_postgresql_a_start_behind_still_migrates_under_the_lock(postgres_server):
    import psycopg

    url = fresh_postgres_db(postgres_server)
    open_database(url, create=True, migrate=True).dispose()
    downgrade(url, OLD_REVISION)
    reader = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        reader.execute("SELECT * FROM alembic_version").fetchall()
        bounded = f"{url}?options=-c%20lock_timeout%3D500"
        with pytest.raises(ShanyraqError):  # it asks for the lock, and the reader holds it off
            open_database(bounded, create=False, migrate=True)
    finally:
        reader.close()
    assert schema_revision(url) == OLD_REVISION
    open_database(url, create=False, migrate=True).dispose()
    assert schema_revision(url) == head_revision()


# --- SQLite `--force`: a write that holds the database past the busy timeout ----------------


class _ShortBusyCursor(sqlite3.Cursor):
    def execute(self, sql: str, *args: Any) -> Any:  # type: ignore[override]
        return super().execute(sql.replace("busy_timeout=30000", "busy_timeout=200"), *args)


class _ShortBusyConnection(sqlite3.Connection):
    def cursor(self, factory: Any = _ShortBusyCursor) -> Any:  # type: ignore[override]
        return super().cursor(factory)


def _short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite connections made from now on wait 0.2 s for a lock, not the engine's 30 s."""
    real = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        kwargs["factory"] = _ShortBusyConnection
        kwargs["timeout"] = 0.2
        return real(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    monkeypatch.setattr(sqlite3.dbapi2, "connect", connect)  # as SQLAlchemy calls it


def test_sqlite_force_held_off_by_a_write_does_not_say_force(tmp_path, monkeypatch):
    # Before: refused with "`--force` upgrades anyway", to a user who had given --force.
    url = sqlite_url(tmp_path)
    settings = load_settings(database_behind(tmp_path, url))
    database = tmp_path / "data" / "shanyraq.db"
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None);"
         "c.execute('BEGIN IMMEDIATE'); print('writing', flush=True); sys.stdin.read()",
         str(database)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
        with monkeypatch.context() as patch:
            _short_busy_timeout(patch)
            with pytest.raises(DatabaseInUseError) as refused:
                upgrade_database(settings, force=True)
        message = refused.value.message
        assert "--force` upgrades anyway" not in message, message
        assert f"process {writer.pid} (" in message and "locked" in message, message
    finally:
        assert writer.stdin is not None
        writer.stdin.close()  # it ends, its transaction rolled back
        writer.wait(timeout=WAIT_S)
    assert schema_revision(url) == OLD_REVISION  # nothing changed
    assert upgrade_database(settings, force=True).after == head_revision()
