"""A service test's empty PostgreSQL database is replaced, at its app's start, by a copy of a
database migrated to head (tests/serving/migrated_postgres.py); one that holds anything, or
that something is connected to, is left as it is."""

from __future__ import annotations

import time

import pytest

from tests.serving.helpers import fresh_postgres_db
from tests.serving.migrated_postgres import migrated_postgres_if_empty
from tests.serving.migration_helpers import plain, tables_and_revision

pytestmark = pytest.mark.integration


def _databases(server_url: str) -> set[str]:
    import psycopg

    with psycopg.connect(plain(server_url)) as connection:
        return {row[0] for row in connection.execute("SELECT datname FROM pg_database")}


def test_an_empty_database_becomes_what_the_migrations_make(postgres_server: str) -> None:
    from serving.migrations import upgrade

    migrated_by_hand = fresh_postgres_db(postgres_server)
    upgrade(migrated_by_hand)
    url = fresh_postgres_db(postgres_server)
    assert tables_and_revision(url) == ([], None)
    assert migrated_postgres_if_empty(url) == url
    assert tables_and_revision(url) == tables_and_revision(migrated_by_hand)
    assert tables_and_revision(url)[1] is not None
    # The empty one it replaced is dropped on a thread of its own.
    emptied = url.rsplit("/", 1)[1] + "_empty"
    deadline = time.monotonic() + 30
    while emptied in _databases(postgres_server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert emptied not in _databases(postgres_server)


def test_a_database_that_holds_a_table_is_left_as_it_is(postgres_server: str) -> None:
    import psycopg

    url = fresh_postgres_db(postgres_server)
    with psycopg.connect(plain(url)) as connection:
        connection.execute("CREATE TABLE mine (x integer)")
    migrated_postgres_if_empty(url)
    assert tables_and_revision(url) == (["mine"], None)


def test_a_database_that_holds_only_a_type_is_left_as_it_is(postgres_server: str) -> None:
    import psycopg

    url = fresh_postgres_db(postgres_server)
    with psycopg.connect(plain(url)) as connection:
        connection.execute("CREATE TYPE mood AS ENUM ('calm')")
    migrated_postgres_if_empty(url)
    assert tables_and_revision(url) == ([], None)


def test_a_database_something_is_connected_to_is_left_to_the_app(postgres_server: str) -> None:
    import psycopg

    url = fresh_postgres_db(postgres_server)
    with psycopg.connect(plain(url)) as held:
        migrated_postgres_if_empty(url)
        assert held.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert tables_and_revision(url) == ([], None)


def test_the_servers_own_database_is_never_replaced(postgres_server: str) -> None:
    assert migrated_postgres_if_empty(postgres_server) == postgres_server
    assert postgres_server.rsplit("/", 1)[1] in _databases(postgres_server)
