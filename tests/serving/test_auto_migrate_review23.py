"""Review of the start-up migration (`auto_migrate: true`: serving.migrations.upgrade through
env.py's own connection) on SQLite: every migration in one transaction, as `db upgrade` runs
them. Before, Alembic committed each migration on its own (it takes SQLite's DDL as not
transactional): a start that failed or was killed midway left the database at a migration
between the old one and the head, which the old version refuses to open."""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from serving.migrations import MigrationFailedError, open_database
from tests.serving.cli_helpers import (
    OLD_REVISION,
    database_behind,
    head_revision,
    schema_revision,
    sqlite_url,
)
from tests.serving.migration_helpers import Injected, columns, failing_last_migration

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 120  # a bound on waits that end on an event, so a broken run fails, not hangs


def _assert_old_schema(tmp_path: Path, url: str) -> None:
    """The database as the old version left it: its revision, none of the later migrations'
    columns, no table of a batch rebuild left behind, intact and still in WAL mode."""
    assert schema_revision(url) == OLD_REVISION
    assert "model_artifact" not in columns(url, "rescore_runs")  # 0009's column
    assert "seen_decision_id" not in columns(url, "decisions")  # 0013's column
    connection = sqlite3.connect(tmp_path / "data" / "shanyraq.db")
    try:
        left = connection.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE '\\_alembic\\_tmp\\_%' ESCAPE '\\'"
        ).fetchall()
        assert left == []
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        connection.close()


def _next_start_migrates(url: str) -> None:
    open_database(url, create=False, migrate=True).dispose()
    assert schema_revision(url) == head_revision()
    assert "model_artifact" in columns(url, "rescore_runs")
    assert "seen_decision_id" in columns(url, "decisions")


def test_a_start_up_migration_failing_in_the_last_migration_leaves_the_old_schema(
    tmp_path, monkeypatch
):
    # Before: the revision was left at 0012, every migration but the last committed.
    url = sqlite_url(tmp_path)
    database_behind(tmp_path, url)

    with monkeypatch.context() as patch:
        failing_last_migration(patch)
        with pytest.raises(MigrationFailedError) as failed:
            open_database(url, create=False, migrate=True)

    # Named as `db upgrade` names it, on one line (before: the raw RuntimeError, a traceback).
    error = failed.value
    assert error.code == "migration_failed" and isinstance(error.__cause__, Injected)
    assert f"migration {head_revision()} " in error.message, error.message
    assert "failed: Injected: the last migration failed" in error.message, error.message
    assert "nothing changed" in error.message and str(tmp_path) in error.message
    assert "\n" not in error.message
    _assert_old_schema(tmp_path, url)
    _next_start_migrates(url)


# A start-up migration run as its own process, held inside the migration once 0012 (the
# rebuild of rescore_runs) has run and been recorded, until it is killed.
_HELD_START = textwrap.dedent(
    """
    import sys
    from alembic.runtime.migration import HeadMaintainer
    from serving.migrations import MigrationFailedError, open_database

    real = HeadMaintainer.update_to_step

    def update_to_step(self, step):
        real(self, step)
        if "0012" in step.to_revisions:
            print("held", flush=True)
            sys.stdin.read()  # until killed

    HeadMaintainer.update_to_step = update_to_step
    open_database(sys.argv[1], create=False, migrate=True)
    """
)


def test_a_start_up_migration_killed_midway_leaves_the_old_schema(tmp_path):
    # Before: the revision was left at 0011, the migrations up to it committed.
    url = sqlite_url(tmp_path)
    database_behind(tmp_path, url)

    held = subprocess.Popen(
        [sys.executable, "-c", _HELD_START, url],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        assert held.stdout is not None
        ready, _, _ = select.select([held.stdout], [], [], WAIT_S)
        assert ready, "the start-up migration never reached migration 0012"
        assert held.stdout.readline() == "held\n"
    finally:
        held.send_signal(signal.SIGKILL)
        held.wait(timeout=WAIT_S)

    _assert_old_schema(tmp_path, url)
    _next_start_migrates(url)
