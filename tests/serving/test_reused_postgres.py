"""The PostgreSQL databases handed from one test to the next (tests/serving/reused_postgres.py):
one that only the rows of an app's work tell apart from the template comes back as the
template has it, rows, revision and sequences; any other difference, or a session still
connected, and it is dropped instead."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from tests.serving import reused_postgres
from tests.serving.helpers import Service, make_settings, seed_users
from tests.serving.migration_helpers import plain
from tests.serving.reused_postgres import _copied, give_back, reused_postgres_db

pytestmark = pytest.mark.integration


def _state(url: str) -> dict[str, Any]:
    """Every row of every public table (COPY's text) and where each sequence stands."""
    with psycopg.connect(plain(url), autocommit=True) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            ).fetchall()
        ]
        state: dict[str, Any] = {t: _copied(connection, t) for t in tables}
        state["sequences"] = connection.execute(
            "SELECT sequencename, last_value FROM pg_sequences ORDER BY 1"
        ).fetchall()
    return state


def _run(url: str, statements: list[str]) -> None:
    with psycopg.connect(plain(url), autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


def _exists(server: str, url: str) -> bool:
    name = url.rpartition("/")[2]
    with psycopg.connect(plain(server), autocommit=True) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return found.fetchone() is not None


@pytest.fixture
def used(postgres_server: str, tmp_path: Any) -> Iterator[Callable[[], str]]:
    """Factory: a database from `reused_postgres_db` on which a started app seeded its users,
    created a family and recorded it in the audit log (its chain's head moved), then stopped."""
    from fastapi.testclient import TestClient

    from serving.app import create_app

    def use() -> str:
        url = reused_postgres_db(postgres_server)
        app = create_app(make_settings(tmp_path, url))
        with TestClient(app, base_url="http://127.0.0.1") as client:
            service = Service(client=client, app=app, tokens=seed_users(app))
            service.create_family("R-1")  # 201 asserted
        return url

    yield use


def test_a_database_that_differs_only_in_its_rows_comes_back_as_the_template(
    used: Callable[[], str], postgres_server: str
) -> None:
    fresh = reused_postgres_db(postgres_server)  # what the next test would get anew
    template_state = _state(fresh)
    url = used()
    assert _state(url) != template_state  # users, a family, audit entries, the chain's head
    give_back(url)
    assert reused_postgres_db(postgres_server) == url
    assert _state(url) == template_state
    give_back(url)
    give_back(fresh)


@pytest.mark.parametrize(
    "change",
    [
        ["CREATE SCHEMA other"],
        ["CREATE TABLE left_behind (id int)"],
        ["ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_truncate"],
        ["DROP TRIGGER audit_log_no_change ON audit_log"],
        ["ALTER TABLE families ADD COLUMN extra text"],
        ["CREATE INDEX extra ON families (id)"],
        ["DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reader') "
         "THEN CREATE ROLE reader; END IF; END $$", "GRANT SELECT ON families TO reader"],
        ["DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET statement_timeout = 1000', "
         "current_database()); END $$"],
        ["UPDATE alembic_version SET version_num = 'older'"],
    ],
    ids=["schema", "table", "trigger off", "trigger dropped", "column", "index", "grant",
         "setting", "revision"],
)  # fmt: skip
def test_any_other_difference_and_the_database_is_dropped_not_reused(
    used: Callable[[], str], postgres_server: str, change: list[str]
) -> None:
    url = used()
    _run(url, change)
    give_back(url)
    again = reused_postgres_db(postgres_server)
    assert again != url
    give_back(again)
    deadline = time.monotonic() + 30
    while _exists(postgres_server, url) and time.monotonic() < deadline:
        time.sleep(0.05)  # dropped on a thread of its own
    assert not _exists(postgres_server, url)


def test_a_database_a_session_still_holds_is_not_reused(
    used: Callable[[], str], postgres_server: str
) -> None:
    url = used()
    with psycopg.connect(plain(url), autocommit=True):
        give_back(url)
    again = reused_postgres_db(postgres_server)
    assert again != url
    give_back(again)


def test_no_copy_is_reused_where_the_template_keeps_rows_outside_its_tables(
    used: Callable[[], str], postgres_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = used()
    server = url.rpartition("/")[0]
    template = reused_postgres._TEMPLATES[server]
    assert template.reusable  # the migrations make no materialized view nor foreign table
    monkeypatch.setitem(
        reused_postgres._TEMPLATES, server, dataclasses.replace(template, reusable=False)
    )
    give_back(url)
    again = reused_postgres_db(postgres_server)
    assert again != url
    give_back(again)


def test_a_reused_database_numbers_its_rows_from_the_start_again(
    used: Callable[[], str], postgres_server: str
) -> None:
    url = used()
    with psycopg.connect(plain(url), autocommit=True) as connection:
        first = connection.execute("SELECT min(id) FROM users").fetchone()
    give_back(url)
    assert used() == url
    with psycopg.connect(plain(url), autocommit=True) as connection:
        assert connection.execute("SELECT min(id) FROM users").fetchone() == first
    give_back(url)
