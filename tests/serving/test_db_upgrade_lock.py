"""`shanyraq db upgrade` keeps the service out while it migrates: the check, the migration and
the seal run on one connection holding a lock the service's start-up check honours (SQLite:
exclusive locking mode; PostgreSQL: alembic_version locked). Held halfway through its
migrations, a service starting meanwhile waits and then runs on the new schema, or is refused
with a clear error; it never reads the half-migrated schema. A process or session that opens
the database after the first check is refused before anything changes."""

from __future__ import annotations

import sqlite3
import sqlite3.dbapi2
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from serving.cli import check_database, load_settings
from serving.core.config import ServingSettings
from serving.db_cli import database_status, upgrade_database
from serving.db_upgrade import DatabaseInUseError
from serving.migrations import upgrade
from shanyraq.errors import ShanyraqError
from tests.serving.cli_helpers import (
    OLD_REVISION,
    database_behind,
    head_revision,
    holding_open,
    schema_revision,
    sqlite_url,
)
from tests.serving.helpers import fresh_postgres_db
from tests.serving.lock_helpers import (
    BEING_UPGRADED,
    WAIT_S,
    ThreadRun,
    in_thread,
    wait_for,
    waiting_on_a_lock,
)

MIDDLE = "0009"  # between OLD_REVISION and the head: where the upgrade is held


@contextmanager
def _upgrade_held_midway(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[ThreadRun]:
    """`db upgrade` run in a thread and held once it has migrated to MIDDLE, before the rest
    of its migrations; released when the block ends."""
    real = command.upgrade
    reached, release = threading.Event(), threading.Event()
    held: list[str] = []

    def upgrade(config: Any, revision: str, **kwargs: Any) -> None:
        if held:  # only the first migration is held (a command started meanwhile is not)
            return real(config, revision, **kwargs)
        held.append(revision)
        real(config, MIDDLE, **kwargs)
        reached.set()
        assert release.wait(timeout=WAIT_S)
        real(config, revision, **kwargs)

    monkeypatch.setattr(command, "upgrade", upgrade)
    run = in_thread(lambda: upgrade_database(settings))
    try:
        wait_for(lambda: reached.is_set() or not run.thread.is_alive())
        assert reached.is_set(), run.outcome
        yield run
    finally:
        release.set()
        run.thread.join(timeout=WAIT_S)


def _new_sqlite_connections(
    monkeypatch: pytest.MonkeyPatch,
    *,
    timeout: float | None = None,
    began: threading.Event | None = None,
) -> None:
    """SQLite connections made from now on: with a busy `timeout` (not the 30 s a lock is
    waited for), and setting `began` as they compile a statement (the authorizer is asked
    before the schema is read, which is where a lock held by another connection stops them)."""
    real = sqlite3.connect

    def authorize(*_action: Any) -> int:
        assert began is not None
        began.set()
        return sqlite3.SQLITE_OK

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        if timeout is not None:
            kwargs["timeout"] = timeout
        connection = real(*args, **kwargs)
        if began is not None:
            connection.set_authorizer(authorize)
        return connection

    monkeypatch.setattr(sqlite3, "connect", connect)
    monkeypatch.setattr(sqlite3.dbapi2, "connect", connect)  # as SQLAlchemy calls it


def _opening_after_the_check(monkeypatch: pytest.MonkeyPatch, opener: Callable[[], Any]) -> list:
    """Makes `opener()` run once the upgrade has looked for other processes first and asks for
    the signing key, before it migrates; what it returned is appended to the list returned."""
    real = ServingSettings.signing_key
    opened: list[Any] = []

    def signing_key(self: ServingSettings, *, create: bool = True) -> bytes:
        if not create and not opened:
            opened.append(opener())
        return real(self, create=create)

    monkeypatch.setattr(ServingSettings, "signing_key", signing_key)
    return opened


# --- SQLite ---------------------------------------------------------------------------------


def test_sqlite_a_service_starting_mid_upgrade_is_refused_clearly(tmp_path, monkeypatch):
    # Before: the migrations committed one by one with no lock, and the start-up check read
    # the half-migrated database (at MIDDLE): database_not_migrated, or, with auto_migrate, a
    # second migration run under the first.
    url = sqlite_url(tmp_path)
    settings = load_settings(database_behind(tmp_path, url))

    with (
        _upgrade_held_midway(monkeypatch, settings) as upgrading,
        pytest.MonkeyPatch.context() as patch,  # undone before the upgrade goes on
    ):
        _new_sqlite_connections(patch, timeout=0.2)
        key = settings.signing_key(create=False)
        starts = [  # `serve` with auto_migrate false, true; the app's own migration; db status
            lambda: check_database(settings, may_create=True, migrate=False),
            lambda: check_database(settings, may_create=True, migrate=True),
            lambda: upgrade(url, seal_with=key),
            lambda: database_status(settings),
        ]
        for start in starts:
            with pytest.raises(ShanyraqError) as refused:
                start()
            assert refused.value.code == "database_being_upgraded", refused.value
            assert BEING_UPGRADED in refused.value.message

    assert upgrading.result().after == head_revision()
    check_database(settings, may_create=True, migrate=False)  # started now, it runs
    assert schema_revision(url) == head_revision()


def test_sqlite_a_service_starting_mid_upgrade_waits_then_sees_the_new_schema(
    tmp_path, monkeypatch
):
    # Before: the check read MIDDLE at once and refused (database_not_migrated).
    url = sqlite_url(tmp_path)
    settings = load_settings(database_behind(tmp_path, url))
    began = threading.Event()

    with _upgrade_held_midway(monkeypatch, settings) as upgrading:
        _new_sqlite_connections(monkeypatch, began=began)
        starting = in_thread(lambda: check_database(settings, may_create=True, migrate=False))
        wait_for(lambda: began.is_set() or not starting.thread.is_alive())
        # It has begun reading, and cannot finish while the upgrade holds the lock.
        assert starting.thread.is_alive(), starting.outcome

    assert upgrading.result().after == head_revision()
    starting.result()  # it went on once the upgrade committed: at the head, not refused
    assert schema_revision(url) == head_revision()


def test_sqlite_a_process_opening_the_database_after_the_check_is_refused(tmp_path, monkeypatch):
    # Before: it was named once the database had been migrated under it (exit 5).
    url = sqlite_url(tmp_path)
    settings = load_settings(database_behind(tmp_path, url))
    database = tmp_path / "data" / "shanyraq.db"
    _new_sqlite_connections(monkeypatch, timeout=0.2)  # the lock is not waited for 30 s

    with ExitStack() as stack:
        pids = _opening_after_the_check(
            monkeypatch, lambda: stack.enter_context(holding_open(database))
        )
        with pytest.raises(DatabaseInUseError) as refused:
            upgrade_database(settings)
        assert len(pids) == 1 and f"process {pids[0]} (" in refused.value.message
        assert "stop the service" in refused.value.message
        assert schema_revision(url) == OLD_REVISION  # nothing changed

    assert upgrade_database(settings).after == head_revision()  # once it has closed it


# --- PostgreSQL -----------------------------------------------------------------------------


def test_postgresql_a_service_starting_mid_upgrade_waits_for_the_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_server: str
) -> None:
    # Before: the migrations held no lock the check honours, and it read MIDDLE, committed
    # halfway by the upgrade's first step: database_not_migrated.
    url = fresh_postgres_db(postgres_server)
    settings = load_settings(database_behind(tmp_path, url))

    with _upgrade_held_midway(monkeypatch, settings) as upgrading:
        starting = in_thread(lambda: check_database(settings, may_create=True, migrate=False))
        wait_for(lambda: waiting_on_a_lock(url) > 0 or not starting.thread.is_alive())
        assert starting.thread.is_alive(), starting.outcome  # waiting on alembic_version

    assert upgrading.result().after == head_revision()
    starting.result()  # it went on once the upgrade committed: at the head, not refused
    assert schema_revision(url) == head_revision()


def test_postgresql_a_session_opened_after_the_first_check_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_server: str
) -> None:
    # Before: checked only before the migration, it was named once migrated (exit 5).
    import psycopg

    url = fresh_postgres_db(postgres_server)
    settings = load_settings(database_behind(tmp_path, url))
    plain = url.replace("postgresql+psycopg://", "postgresql://")

    sessions = _opening_after_the_check(monkeypatch, lambda: psycopg.connect(plain))
    try:
        with pytest.raises(DatabaseInUseError) as refused:
            upgrade_database(settings)
        assert len(sessions) == 1
        assert f"session {sessions[0].info.backend_pid} of " in refused.value.message
        assert schema_revision(url) == OLD_REVISION  # nothing changed, the lock is let go
    finally:
        for session in sessions:
            session.close()
    assert upgrade_database(settings).after == head_revision()
