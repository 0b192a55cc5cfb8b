"""Review p475 of the migrations' messages and locks: a SQLite lock is worded where every
connection error is (serving.db.session.unavailable); on PostgreSQL a role that may not lock
alembic_version, or a server timeout that cuts the wait short, is named with what to do; a
migrating start waits a bounded time for alembic_version, logging whom for; two first starts
on a fresh database both succeed; a failed migration reads the same from a start and from
`db upgrade`."""

from __future__ import annotations

import logging
import os
import select
import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from serving import db_upgrade
from serving.cli import check_database, load_settings
from serving.db.session import make_engine, unavailable
from serving.db_upgrade import DatabaseInUseError, upgrade_database
from serving.migrations import MigrationFailedError, open_database, upgrade, version_lock
from shanyraq.errors import ShanyraqError
from tests.serving.cli_helpers import (
    OLD_REVISION,
    database_behind,
    head_revision,
    schema_revision,
    sqlite_url,
)
from tests.serving.helpers import fresh_postgres_db, make_settings
from tests.serving.lock_helpers import BEING_UPGRADED, in_thread, wait_for, waiting_on_a_lock
from tests.serving.migration_helpers import (
    WAIT_S,
    alembic_reader,
    downgrade,
    failing_last_migration,
    plain,
    set_on_database,
)

ROOT = Path(__file__).resolve().parents[2]


# --- 1. SQLite's lock, worded where every connection error is -------------------------------


def test_a_locked_sqlite_database_is_being_upgraded_in_unavailable_itself(tmp_path):
    # Before: only callers that looked through the error's chain said so; `unavailable` itself
    # called it a database that cannot be opened ("... the service's SQLite database").
    url = sqlite_url(tmp_path)
    file = tmp_path / "data" / "shanyraq.db"
    file.parent.mkdir()
    holder = sqlite3.connect(file)  # as `db upgrade` holds it: exclusive locking mode
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(file, timeout=0)
    engine = make_engine(url)
    try:
        with pytest.raises(sqlite3.OperationalError) as locked:
            other.execute("SELECT count(*) FROM sqlite_master")
        error = unavailable(engine, OperationalError("SELECT", {}, locked.value), doing="open")
    finally:
        engine.dispose()
        other.close()
        holder.close()
    assert error.code == "database_being_upgraded", error.message
    assert BEING_UPGRADED in error.message and "shanyraq.db" in error.message


# --- 5. A failed migration, worded once ------------------------------------------------------


def test_a_start_and_db_upgrade_word_a_failed_migration_alike(tmp_path, monkeypatch):
    # Before: the start said "cannot migrate ..., start again", without where the database
    # was left or the likely cause, which `db upgrade` gave in other words.
    url = sqlite_url(tmp_path)
    settings = load_settings(database_behind(tmp_path, url))
    with monkeypatch.context() as patch:
        failing_last_migration(patch)
        with pytest.raises(MigrationFailedError) as started:
            open_database(url, create=False, migrate=True)
        with pytest.raises(MigrationFailedError) as upgraded:
            upgrade_database(settings)
    message = started.value.message
    assert message == upgraded.value.message
    assert f"still at migration {OLD_REVISION}" in message, message
    assert "a fault in this version's migration" in message and "SHANYRAQ_DEBUG=1" in message
    assert schema_revision(url) == OLD_REVISION


# --- 2. PostgreSQL: a role that may not migrate, timeouts ------------------------------------


@pytest.fixture
def roles(postgres_server: str) -> Iterator[tuple[str, str]]:
    """(owner URL, service URL): a database at the head owned by a role of its own, and a
    role that may read and write its tables but only read alembic_version."""
    suffix = uuid.uuid4().hex[:8]
    owner, service, name = f"owner_{suffix}", f"service_{suffix}", f"db_{suffix}"
    with psycopg.connect(plain(postgres_server), autocommit=True) as connection:
        connection.execute(f'CREATE ROLE "{owner}" LOGIN')
        connection.execute(f'CREATE ROLE "{service}" LOGIN')
        connection.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
    server = postgres_server.rsplit("/", 1)[0].replace("shanyraq@", "{}@")
    owner_url, service_url = server.format(owner) + f"/{name}", server.format(service) + f"/{name}"
    open_database(owner_url, create=True, migrate=True).dispose()
    with psycopg.connect(plain(owner_url), autocommit=True) as connection:
        for grant in (
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{service}"',
            f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{service}"',
            f'REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM "{service}"',
        ):
            connection.execute(grant)
    yield owner_url, service_url


def test_a_role_that_only_reads_alembic_version_starts_at_the_head(tmp_path, roles):
    _, service_url = roles
    settings = make_settings(tmp_path, service_url)
    check_database(settings, may_create=False, migrate=True)  # `serve`'s check: no lock asked
    upgrade(service_url, seal_with=settings.signing_key())  # the app's own start
    assert schema_revision(service_url) == head_revision()


def test_a_role_that_may_not_lock_alembic_version_is_told_to_upgrade_as_the_owner(tmp_path, roles):
    # Before: "... permission denied for table alembic_version; check database_url ..., and
    # that the database server is running".
    owner_url, service_url = roles
    downgrade(owner_url, OLD_REVISION)
    with pytest.raises(ShanyraqError) as started:
        open_database(service_url, create=False, migrate=True)
    with pytest.raises(ShanyraqError) as upgraded:
        upgrade_database(make_settings(tmp_path, service_url))
    message = started.value.message
    assert message == upgraded.value.message  # a start and `db upgrade` say the same
    assert "permission denied for table alembic_version" in message, message
    assert "may not lock the alembic_version table" in message, message
    assert "`shanyraq db upgrade` with database_url naming the role that owns" in message
    assert "server is running" not in message, message
    assert schema_revision(owner_url) == OLD_REVISION


def test_a_first_start_by_a_role_that_may_not_create_tables_is_told_what_to_grant(
    postgres_server,
):
    # Before: told to run `db upgrade` as the tables' owner (there are none yet, and `db
    # upgrade` makes no database) or to grant UPDATE on a table that does not exist.
    suffix = uuid.uuid4().hex[:8]
    role, name = f"svc_{suffix}", f"db_{suffix}"
    with psycopg.connect(plain(postgres_server), autocommit=True) as connection:
        connection.execute(f'CREATE ROLE "{role}" LOGIN')
        connection.execute(f'CREATE DATABASE "{name}"')  # the admin's: no CREATE for the role
        major = int(connection.execute("SHOW server_version_num").fetchone()[0]) // 10000
    if major < 15:
        pytest.skip("before PostgreSQL 15 every role may create tables in schema public")
    url = postgres_server.rsplit("/", 1)[0].replace("shanyraq@", f"{role}@") + f"/{name}"
    with pytest.raises(ShanyraqError) as refused:
        open_database(url, create=True, migrate=True)
    message = refused.value.message
    assert "permission denied for schema public" in message, message
    assert f"the role {role} may not create tables" in message, message
    assert f"GRANT CREATE ON SCHEMA public TO {role}" in message, message
    assert "db upgrade" not in message and "GRANT UPDATE" not in message, message


def test_a_role_that_may_not_read_alembic_version_is_told_so(roles):
    # Before: "... permission denied for table alembic_version; check database_url ..., and
    # that the database server is running".
    owner_url, service_url = roles
    service = service_url.split("://", 1)[1].split("@", 1)[0]
    with psycopg.connect(plain(owner_url), autocommit=True) as connection:
        connection.execute(f'REVOKE SELECT ON alembic_version FROM "{service}"')
    with pytest.raises(ShanyraqError) as refused:
        open_database(service_url, create=False, migrate=False)
    message = refused.value.message
    assert refused.value.code == "database_unavailable", message
    assert "permission denied for table alembic_version" in message, message
    assert f"the role {service} lacks a privilege this needs" in message, message
    assert "may not lock" not in message and "server is running" not in message, message


def test_a_read_cut_short_by_the_servers_lock_timeout_says_so(postgres_server):
    # Before: "... canceling statement due to lock timeout; check database_url ..., and that
    # the database server is running", while an upgrade held the table.
    url = fresh_postgres_db(postgres_server)
    open_database(url, create=True, migrate=True).dispose()
    set_on_database(url, "lock_timeout", "300ms")
    with psycopg.connect(plain(url)) as upgrading:  # as `db upgrade` holds it
        upgrading.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(ShanyraqError) as refused:
            open_database(url, create=False, migrate=False)
    message = refused.value.message
    assert "canceling statement due to lock timeout" in message, message
    assert "the server cut the statement short" in message and "off-peak" in message, message
    assert "server is running" not in message, message


def test_a_statement_timeout_ending_the_wait_for_the_lock_is_named(behind_pg):
    # Before, at a start: "... canceling statement due to statement timeout; check
    # database_url ..., and that the database server is running".
    url, config = behind_pg
    set_on_database(url, "statement_timeout", "1s")
    with alembic_reader(url) as reader:
        holder = reader.info.backend_pid
        with pytest.raises(DatabaseInUseError) as started:
            open_database(url, create=False, migrate=True)
        with pytest.raises(DatabaseInUseError) as upgraded:
            upgrade_database(load_settings(config))
    for refused in (started.value.message, upgraded.value.message):
        assert "until the server's statement_timeout (1s) ended the wait" in refused, refused
        assert f"session {holder} of shanyraq" in refused and "(pg_dump, holding it" in refused
        assert "raise statement_timeout for this role" in refused and "off-peak" in refused
        assert "nothing changed" in refused and "server is running" not in refused
    assert "then start again" in started.value.message
    assert schema_revision(url) == OLD_REVISION


def test_a_lock_timeout_cutting_a_migration_short_says_so(behind_pg):
    # Before, from `db upgrade`: "Most likely the database holds something this migration does
    # not expect" (it held nothing odd: another session held the table past lock_timeout).
    url, config = behind_pg
    set_on_database(url, "lock_timeout", "300ms")
    # Holds migration 0006's table; named as no service is (`db upgrade` refuses those).
    with psycopg.connect(plain(url), application_name="nightly report") as reader:
        reader.execute("SELECT * FROM rescore_runs").fetchall()
        with pytest.raises(MigrationFailedError) as upgraded:
            upgrade_database(load_settings(config))
        with pytest.raises(MigrationFailedError) as started:
            open_database(url, create=False, migrate=True)
    for failed in (upgraded.value.message, started.value.message):
        assert "migration 0006 " in failed and "SQLSTATE 55P03" in failed, failed
        assert "Most likely the server cut a statement short" in failed, failed
        assert "does not expect" not in failed and f"still at migration {OLD_REVISION}" in failed
    assert schema_revision(url) == OLD_REVISION


# --- 3. A migrating start waits a bounded time, saying whom for ------------------------------


def test_a_migrating_start_says_whom_it_waits_for_and_stops_waiting(behind_pg, monkeypatch, caplog):
    # Before: it waited for the reader, silently, for as long as the reader held its lock.
    url, config = behind_pg
    monkeypatch.setattr(version_lock, "LOCK_NOTICE_S", 0.3)
    monkeypatch.setattr(db_upgrade, "LOCK_WAIT_S", 1.0)
    settings = load_settings(config)
    with alembic_reader(url) as reader, caplog.at_level(logging.WARNING, "serving.migrations"):
        holder = reader.info.backend_pid
        guard = threading.Timer(WAIT_S, reader.rollback)  # a wait without end fails, not hangs
        guard.start()
        try:
            with pytest.raises(DatabaseInUseError) as refused:
                check_database(settings, may_create=False, migrate=True)  # as `serve` starts
        finally:
            guard.cancel()
    said = [record.getMessage() for record in caplog.records]
    said = [words for words in said if words.startswith("waiting for ")]
    assert len(said) == 1, said
    assert f"session {holder} of shanyraq" in said[0] and "(pg_dump, holding it" in said[0]
    assert "up to 1 s in all" in said[0], said
    message = refused.value.message
    assert "stayed locked past 1 s" in message and f"session {holder} of shanyraq" in message
    assert "then start again" in message and "nothing changed" in message, message
    assert schema_revision(url) == OLD_REVISION
    check_database(settings, may_create=False, migrate=True)  # the reader gone: it migrates
    assert schema_revision(url) == head_revision()


# --- 4. Two first starts on a fresh PostgreSQL database --------------------------------------

# A first start in a process of its own, held once its first migration has run (alembic_version
# made, not yet committed), until a line comes on stdin.
_HELD_FIRST_START = textwrap.dedent(
    """
    import sys
    from alembic.runtime.migration import HeadMaintainer
    from serving.migrations import open_database

    real = HeadMaintainer.update_to_step
    held = []

    def update_to_step(self, step):
        real(self, step)
        if not held:
            held.append(step)
            print("held", flush=True)
            sys.stdin.readline()

    HeadMaintainer.update_to_step = update_to_step
    open_database(sys.argv[1], create=True, migrate=True).dispose()
    """
)


def test_two_first_starts_on_a_fresh_postgresql_both_start(postgres_server):
    # Before: the second ran its own CREATE TABLE alembic_version, waited for the first's
    # commit, then failed on a duplicate key (database_unavailable); a retry succeeded.
    url = fresh_postgres_db(postgres_server)
    first = subprocess.Popen(
        [sys.executable, "-c", _HELD_FIRST_START, url],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        assert first.stdout is not None and first.stdin is not None
        ready, _, _ = select.select([first.stdout], [], [], WAIT_S)
        assert ready and first.stdout.readline() == "held\n", "the first start never migrated"
        second = in_thread(lambda: open_database(url, create=True, migrate=True).dispose())
        wait_for(lambda: waiting_on_a_lock(url) > 0 or not second.thread.is_alive())
        assert second.thread.is_alive(), second.outcome  # waiting on the first start
        first.stdin.write("\n")
        first.stdin.flush()
        assert first.wait(timeout=WAIT_S) == 0
        second.result()  # it started too, at the head the first committed
    finally:
        first.kill()
        first.wait(timeout=WAIT_S)
    assert schema_revision(url) == head_revision()
