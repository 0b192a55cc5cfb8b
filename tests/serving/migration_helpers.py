"""Helpers of the migration tests: a migration made to fail, a database taken back down, the
columns a table has, the tables and revision of a PostgreSQL database, a reader that holds a
lock while a migration waits, a setting made on a database, and lock waits cancelled as an
administrator cancels them (the PostgreSQL database left at an older revision is the
`behind_pg` fixture of tests/serving/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from alembic.runtime.migration import HeadMaintainer
from sqlalchemy import inspect

from serving.db.session import make_engine
from tests.serving.cli_helpers import head_revision
from tests.serving.lock_helpers import ThreadRun, wait_for


class Injected(RuntimeError):
    pass


def failing_last_migration(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last migration fails once its own statements have run, before it is recorded."""
    real = HeadMaintainer.update_to_step
    head = head_revision()

    def update_to_step(self: HeadMaintainer, step: Any) -> None:
        if head in step.to_revisions:
            raise Injected("the last migration failed")
        real(self, step)

    monkeypatch.setattr(HeadMaintainer, "update_to_step", update_to_step)


def columns(url: str, table: str) -> set[str]:
    engine = make_engine(url)
    try:
        return {column["name"] for column in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    from serving.migrations import alembic_config

    command.downgrade(alembic_config(url), revision)


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def tables_and_revision(url: str) -> tuple[list[str], str | None]:
    """The tables of the PostgreSQL database at `url` (schema public, by name) and its alembic
    revision (None without alembic's table)."""
    with psycopg.connect(plain(url)) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        revision = None
        if "alembic_version" in tables:
            found: Any = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = found[0]
    return tables, revision


def set_on_database(url: str, setting: str, value: str) -> None:
    """`setting` for every later connection to the database at `url` (as a DBA sets it)."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(plain(url), autocommit=True) as connection:
        connection.execute(f"ALTER DATABASE \"{name}\" SET {setting} = '{value}'")


@contextmanager
def alembic_reader(url: str, name: str = "pg_dump") -> Iterator[Any]:
    """A session that has read alembic_version in a transaction it keeps open, as pg_dump does
    for the whole dump: it holds ACCESS SHARE on the table until its transaction ends."""
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    connection = psycopg.connect(plain, application_name=name)
    try:
        connection.execute("SELECT * FROM alembic_version").fetchall()
        yield connection
    finally:
        connection.close()


WAIT_S = 60  # a bound on waits that end on an event, so a broken run fails, not hangs


CANCELLED = "cancelled by an administrator or another session (pg_cancel_backend)"


def cancel_lock_waits(url: str) -> None:
    """pg_cancel_backend, as an administrator runs it, on every session of the database that
    waits for a lock now. Named as psql: `db upgrade` counts an unnamed session as a service's
    and would refuse to run while this one is connected."""
    with psycopg.connect(plain(url), autocommit=True, application_name="psql") as connection:
        connection.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = "
            "current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        ).fetchall()


def raised_once_cancelled(url: str, run: ThreadRun) -> Any:
    """What `run` raised, its waits for a lock cancelled until it ended (a cancel that finds
    it between statements cancels nothing: it is sent again)."""

    def ended() -> bool:
        cancel_lock_waits(url)
        return not run.thread.is_alive()

    wait_for(ended)
    assert "error" in run.outcome, run.outcome
    return run.outcome["error"]
