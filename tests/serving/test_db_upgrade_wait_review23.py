"""Review of `db upgrade` (serving/db_upgrade.py): on PostgreSQL a lock on alembic_version held
by another session (pg_dump, an open transaction) is waited for with a word on who holds it,
up to a limit, and Ctrl-C meanwhile changes nothing; a migration that fails, with a Python
error or the database's, is one clear error naming it, with nothing changed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from alembic.operations import Operations
from sqlalchemy import text

from serving.cli import load_settings
from serving.db.session import make_engine
from serving.db_upgrade import DatabaseInUseError, upgrade_database
from serving.migrations import version_lock
from shanyraq.errors import ShanyraqError
from tests.serving.cli_helpers import (
    OLD_REVISION,
    audit_entries_at,
    database_behind,
    error_code,
    head_revision,
    run_cli,
    schema_revision,
    sqlite_url,
)
from tests.serving.helpers import fresh_postgres_db
from tests.serving.migration_helpers import alembic_reader, columns

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 120  # a bound on waits that end on an event, so a broken run fails, not hangs
SECRET = "hunter2-not-shown"


def _with_password(url: str) -> str:
    """The test server trusts every connection: a password in the URL is accepted, and must
    never be shown."""
    return url.replace("postgresql+psycopg://shanyraq@", f"postgresql+psycopg://shanyraq:{SECRET}@")


def _lockers(url: str, *, but: int) -> list[tuple[int, bool]]:
    """Sessions other than `but` holding or waiting for a lock on alembic_version."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT pid, granted FROM pg_locks WHERE locktype = 'relation' "
                    "AND relation = 'alembic_version'::regclass AND pid <> :but "
                    "AND pid <> pg_backend_pid()"
                ),
                {"but": but},
            )
            return [(row.pid, row.granted) for row in rows]
    finally:
        engine.dispose()


# --- PostgreSQL: waiting for alembic_version's lock -----------------------------------------


def test_postgresql_upgrade_says_who_it_waits_for_then_upgrades(tmp_path, postgres_server):
    # Before: it waited, saying nothing, for as long as the reader (a pg_dump) kept its lock.
    url = fresh_postgres_db(postgres_server)
    settings = load_settings(database_behind(tmp_path, _with_password(url)))
    said: list[str] = []
    with alembic_reader(url) as reader:
        holder = reader.info.backend_pid

        def waiting(words: str) -> None:
            said.append(words)
            reader.rollback()  # the dump ends: the lock is granted within the wait

        report = upgrade_database(settings, lock_wait_s=WAIT_S, on_wait=waiting)
    assert len(said) == 1, said
    assert f"session {holder} of shanyraq" in said[0] and "(pg_dump, holding it" in said[0], said
    assert "Ctrl-C leaves the database unchanged" in said[0] and SECRET not in said[0]
    assert report.before == OLD_REVISION and report.after == head_revision()
    assert schema_revision(url) == head_revision()


def test_postgresql_upgrade_refuses_past_its_wait_with_nothing_changed(
    tmp_path, monkeypatch, postgres_server
):
    monkeypatch.setattr(version_lock, "LOCK_NOTICE_S", 0.5)  # said after 0.5 s, refused at 1.5
    url = fresh_postgres_db(postgres_server)
    settings = load_settings(database_behind(tmp_path, url))
    before = [entry.seq for entry in audit_entries_at(url)]
    said: list[str] = []
    with alembic_reader(url, name="nightly backup") as reader:
        holder = reader.info.backend_pid
        with pytest.raises(DatabaseInUseError) as refused:
            upgrade_database(settings, lock_wait_s=1.5, on_wait=said.append)
        assert _lockers(url, but=holder) == []  # its request ended with it
    message = refused.value.message
    assert f"session {holder} of shanyraq" in message and "(nightly backup, " in message
    assert "nothing changed" in message and "--lock-wait" in message, message
    assert len(said) == 1 and f"session {holder}" in said[0], said
    assert schema_revision(url) == OLD_REVISION
    assert [entry.seq for entry in audit_entries_at(url)] == before
    assert upgrade_database(settings).after == head_revision()  # the reader gone: it upgrades


# `shanyraq db upgrade` as the user runs it, in a process of its own.
_CLI = [sys.executable, "-m", "shanyraq.cli", "db", "upgrade"]


def test_postgresql_ctrl_c_while_waiting_leaves_the_database_unchanged(tmp_path, postgres_server):
    url = fresh_postgres_db(postgres_server)
    config = database_behind(tmp_path, url)
    with alembic_reader(url) as reader:
        holder = reader.info.backend_pid
        upgrading = subprocess.Popen(
            [*_CLI, "--config", str(config), "--lock-wait", str(WAIT_S)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        guard = threading.Timer(WAIT_S, upgrading.kill)  # a hung run fails, not hangs
        guard.start()
        try:
            assert upgrading.stderr is not None
            line = upgrading.stderr.readline()
            assert line.startswith("waiting for ") and f"session {holder} " in line, line
            _until_queued(url, holder)  # the notice is printed before its request is made
            upgrading.send_signal(signal.SIGINT)  # Ctrl-C while the server has it waiting
            _, err = upgrading.communicate(timeout=WAIT_S)
        finally:
            guard.cancel()
            upgrading.kill()
            upgrading.wait(timeout=WAIT_S)
        assert upgrading.returncode == 130, err
        assert "error [interrupted]" in err and "Traceback" not in err, err
        assert _lockers(url, but=holder) == []  # no request left queued behind the reader
    assert schema_revision(url) == OLD_REVISION
    assert "seen_decision_id" not in columns(url, "decisions")
    assert upgrade_database(load_settings(config)).after == head_revision()


def _until_queued(url: str, holder: int) -> None:
    """Until one other session than `holder` (the upgrade's) is queued for alembic_version."""
    deadline = time.monotonic() + WAIT_S
    while (found := _lockers(url, but=holder)) == []:
        assert time.monotonic() < deadline, "the upgrade never asked for the lock again"
        time.sleep(0.05)  # polled for, bounded: how soon it asks is not known
    assert [granted for _, granted in found] == [False], found


# --- A migration that fails ------------------------------------------------------------------


def _python_error_in_0010(monkeypatch: pytest.MonkeyPatch) -> None:
    """Migration 0010 raises a Python error (a fault in it) halfway through its own work."""
    real = Operations.add_column

    def add_column(self: Operations, table: str, column: Any, **kwargs: Any) -> Any:
        if column.name == "head_gender":
            raise KeyError("head_gender")
        return real(self, table, column, **kwargs)

    monkeypatch.setattr(Operations, "add_column", add_column)


@pytest.fixture(params=["sqlite", "postgresql"])
def behind_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return fresh_postgres_db(request.getfixturevalue("postgres_server"))


def test_a_python_error_in_a_migration_is_one_clear_error(tmp_path, monkeypatch, behind_url):
    # Before: the KeyError itself, a traceback from `shanyraq db upgrade`.
    url = behind_url
    config = database_behind(tmp_path, url)
    before = [entry.seq for entry in audit_entries_at(url)]
    _python_error_in_0010(monkeypatch)

    failed = run_cli("db", "upgrade", "--config", config)

    assert error_code(failed) == "migration_failed", failed.output
    message = failed.exception.message
    assert "migration 0010 (Decisions record the family's groups" in message, message
    assert "KeyError: 'head_gender'" in message, message
    assert "nothing changed" in message and f"still at migration {OLD_REVISION}" in message
    assert "SHANYRAQ_DEBUG=1" in message, message
    assert isinstance(failed.exception.__cause__, KeyError)  # the traceback SHANYRAQ_DEBUG shows
    assert schema_revision(url) == OLD_REVISION
    assert "model_artifact" not in columns(url, "rescore_runs")  # 0009's: rolled back too
    assert "settlement" not in columns(url, "decisions")  # 0010's first column too
    assert [entry.seq for entry in audit_entries_at(url)] == before


def test_a_database_error_in_a_migration_names_it_in_the_servers_words(tmp_path, behind_url):
    # Before, on PostgreSQL: "... check that the database server is running" (it was).
    url = behind_url
    config = database_behind(tmp_path, url)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:  # a table of 0008's name, made by hand
            connection.execute(text("CREATE TABLE reuse_links (note VARCHAR(10))"))
    finally:
        engine.dispose()

    failed = run_cli("db", "upgrade", "--config", config)

    assert error_code(failed) == "migration_failed", failed.output
    message = failed.exception.message
    assert "migration 0008 (Reuse links" in message, message
    assert "reuse_links" in message and "already exists" in message, message
    assert "server is running" not in message and "nothing changed" in message, message
    assert schema_revision(url) == OLD_REVISION
    assert "model_artifact" not in columns(url, "rescore_runs")


# The failing migration as `shanyraq` prints it: one line, the traceback only when asked.
_FAILING_CLI = textwrap.dedent(
    """
    import sys
    from alembic.operations import Operations
    from shanyraq.cli import main

    real = Operations.add_column

    def add_column(self, table, column, **kwargs):
        if column.name == "head_gender":
            raise KeyError("head_gender")
        return real(self, table, column, **kwargs)

    Operations.add_column = add_column
    sys.argv = ["shanyraq", "db", "upgrade", "--config", sys.argv[1]]
    main()
    """
)


@pytest.mark.parametrize("debug", ["", "1"])
def test_the_cli_shows_the_traceback_only_under_debug(tmp_path, debug):
    url = sqlite_url(tmp_path)
    config = database_behind(tmp_path, url)
    ran = subprocess.run(
        [sys.executable, "-c", _FAILING_CLI, str(config)],
        cwd=ROOT, capture_output=True, text=True, timeout=WAIT_S,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SHANYRAQ_DEBUG": debug},
    )  # fmt: skip
    assert ran.returncode == 2, ran.stderr
    assert ran.stderr.splitlines()[-1].startswith("error [migration_failed]: "), ran.stderr
    assert ("Traceback" in ran.stderr) == bool(debug), ran.stderr
    assert schema_revision(url) == OLD_REVISION


def test_shanyraq_errors_keep_their_code(tmp_path, monkeypatch):
    # A migration that refuses on purpose (a ShanyraqError) is reported as it is.
    url = sqlite_url(tmp_path)
    config = database_behind(tmp_path, url)

    def refuse(self: Operations, table: str, column: Any, **kwargs: Any) -> Any:
        raise ShanyraqError("refused on purpose")

    monkeypatch.setattr(Operations, "add_column", refuse)
    failed = run_cli("db", "upgrade", "--config", config)
    assert error_code(failed) == "error" and failed.exception.message == "refused on purpose"
    assert schema_revision(url) == OLD_REVISION
