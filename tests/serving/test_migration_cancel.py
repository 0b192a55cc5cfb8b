"""PostgreSQL's query_canceled (SQLSTATE 57014) is a statement_timeout or a
pg_cancel_backend, told apart by the server's words; the messages of `db upgrade` and of a
migrating start say which it was, and give the timeout's advice only for a timeout."""

from __future__ import annotations

import psycopg
import pytest

from serving.cli import load_settings
from serving.db_upgrade import DatabaseInUseError, upgrade_database
from serving.migrations import MigrationFailedError, open_database
from tests.serving.cli_helpers import OLD_REVISION, schema_revision
from tests.serving.lock_helpers import in_thread
from tests.serving.migration_helpers import (
    CANCELLED,
    alembic_reader,
    plain,
    raised_once_cancelled,
    set_on_database,
)


def test_a_wait_for_the_lock_cancelled_by_an_administrator_is_not_called_a_timeout(behind_pg):
    # Before: "... until the server's statement_timeout (0) ended the wait ...: raise
    # statement_timeout for this role", with no statement_timeout set.
    url, config = behind_pg
    with alembic_reader(url) as reader:  # holds alembic_version, as pg_dump does
        holder = reader.info.backend_pid
        upgrading = in_thread(lambda: upgrade_database(load_settings(config)))
        upgraded = raised_once_cancelled(url, upgrading)
        starting = in_thread(lambda: open_database(url, create=False, migrate=True))
        started = raised_once_cancelled(url, starting)
    for refused in (upgraded, started):
        assert isinstance(refused, DatabaseInUseError), refused
        message = refused.message
        assert CANCELLED in message and "not by a timeout" in message, message
        assert f"session {holder} of shanyraq" in message and "nothing changed" in message
        assert "statement_timeout" not in message and "off-peak" not in message, message
    assert "run `shanyraq db upgrade` again" in upgraded.message
    assert "then start again" in started.message
    assert schema_revision(url) == OLD_REVISION


def test_a_migration_cancelled_by_an_administrator_is_not_called_a_timeout(behind_pg):
    # Before: "Most likely the server cut a statement short (its statement_timeout or
    # lock_timeout ...): raise that setting for this role", which no timeout had ended.
    url, config = behind_pg
    # Holds migration 0006's table; named as no service is (`db upgrade` refuses those).
    with psycopg.connect(plain(url), application_name="nightly report") as reader:
        reader.execute("SELECT * FROM rescore_runs").fetchall()
        upgrading = in_thread(lambda: upgrade_database(load_settings(config)))
        failed = raised_once_cancelled(url, upgrading)
    assert isinstance(failed, MigrationFailedError), failed
    message = failed.message
    assert "migration 0006 " in message and "due to user request" in message, message
    assert f"Most likely the statement was {CANCELLED}, not by a timeout" in message, message
    assert "statement_timeout" not in message and "raise " not in message, message
    assert f"still at migration {OLD_REVISION}" in message, message
    assert schema_revision(url) == OLD_REVISION


def test_a_migration_cut_short_by_statement_timeout_names_that_setting(behind_pg):
    # Before: "its statement_timeout or lock_timeout ...: raise that setting", leaving the
    # operator to work out which one from the server's words.
    url, config = behind_pg
    set_on_database(url, "statement_timeout", "500ms")
    with psycopg.connect(plain(url), application_name="nightly report") as reader:
        reader.execute("SELECT * FROM rescore_runs").fetchall()
        with pytest.raises(MigrationFailedError) as failed:
            upgrade_database(load_settings(config))
    message = failed.value.message
    assert "migration 0006 " in message and "due to statement timeout" in message, message
    assert "Most likely the server cut a statement short (its statement_timeout" in message
    assert "raise statement_timeout for this role" in message, message
    assert "lock_timeout" not in message and "pg_cancel_backend" not in message, message
    assert schema_revision(url) == OLD_REVISION
