"""On PostgreSQL, a test whose database only its apps' start reads (through `make_service` or
`restart`) gets the migrated copy that start would have made of an empty database, made at
once: one database created instead of an empty one created, renamed away, replaced and dropped
(tests/serving/database_fixtures.py `only_apps_start_on`). Any other test, one that asks for
`database_url` itself or through a fixture of its own, still gets an empty database."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.serving import migrated_postgres
from tests.serving.database_fixtures import only_apps_start_on
from tests.serving.helpers import fresh_postgres_db
from tests.serving.migrated_postgres import migrated_postgres_db, migrated_postgres_if_empty
from tests.serving.migration_helpers import plain, tables_and_revision

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def renames(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The empty databases replaced by a copy at an app's start (set up before the test's
    database: autouse)."""
    seen: list[str] = []
    real = migrated_postgres._renamed

    def counted(maintenance: Any, name: str, to: str) -> bool:
        seen.append(name)
        return real(maintenance, name, to)

    monkeypatch.setattr(migrated_postgres, "_renamed", counted)
    return seen


def test_a_copy_made_at_once_is_what_the_migrations_make(postgres_server: str) -> None:
    from serving.migrations import upgrade

    by_hand = fresh_postgres_db(postgres_server)
    upgrade(by_hand)
    first, second = migrated_postgres_db(postgres_server), migrated_postgres_db(postgres_server)
    assert first != second
    assert tables_and_revision(first) == tables_and_revision(by_hand)
    assert tables_and_revision(first)[1] is not None
    # An app's start finds it at head and leaves it as it is.
    assert migrated_postgres_if_empty(first) == first
    assert tables_and_revision(first) == tables_and_revision(by_hand)


def test_an_app_started_on_it_finds_it_migrated(make_service: Any, renames: list[str]) -> None:
    service = make_service()
    assert renames == []  # nothing was left empty for the app's start to replace
    url = service.app.state.services.settings.database_url
    if url.startswith("postgresql"):
        assert tables_and_revision(url)[1] is not None
    service.create_family("F1")
    seen = service.client.get("/families/F1", headers=service.headers("inspector"))
    assert seen.status_code == 200, seen.text


def test_a_test_that_asks_for_its_database_gets_it_empty(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        assert not Path(database_url.removeprefix("sqlite:///")).exists()
    else:
        assert tables_and_revision(database_url) == ([], None)


@pytest.fixture
def holds_mine(database_url: str) -> str:
    """A fixture of the test's own that writes into the database before any app starts."""
    import psycopg

    if database_url.startswith("postgresql"):
        with psycopg.connect(plain(database_url)) as connection:
            connection.execute("CREATE TABLE mine (x integer)")
    return database_url


def test_a_fixture_that_asks_for_it_gets_it_empty(holds_mine: str, make_service: Any) -> None:
    if holds_mine.startswith("postgresql"):
        assert tables_and_revision(holds_mine) == (["mine"], None)


def _request(argnames: tuple[str, ...], fixtures: dict[str, list[tuple[str, ...]]]) -> Any:
    definitions = {
        name: [SimpleNamespace(argnames=asks) for asks in chain] for name, chain in fixtures.items()
    }
    info = SimpleNamespace(argnames=argnames, name2fixturedefs=definitions)
    return SimpleNamespace(node=SimpleNamespace(_fixtureinfo=info))


BASE = {"tmp_path": [()], "database_url": [("request", "tmp_path")]}


@pytest.mark.parametrize(
    ("argnames", "fixtures", "at_once"),
    [
        (("service",), {**BASE, "service": [("make_service",)],
                        "make_service": [("tmp_path", "database_url")]}, True),
        (("make_service", "restart"), {**BASE, "make_service": [("tmp_path", "database_url")],
                                       "restart": [("tmp_path", "database_url")]}, True),
        # the test asks for it itself
        (("service", "database_url"), {**BASE, "service": [("make_service",)],
                                       "make_service": [("tmp_path", "database_url")]}, False),
        # a fixture of its own asks for it
        (("watched",), {**BASE, "watched": [("service", "database_url")],
                        "service": [("make_service",)],
                        "make_service": [("tmp_path", "database_url")]}, False),
        # database_url overridden by one that uses the one it overrides
        (("service",), {**BASE, "database_url": [("request", "tmp_path"), ("database_url",)],
                        "service": [("make_service",)],
                        "make_service": [("tmp_path", "database_url")]}, False),
    ],
    ids=["service", "make_service-restart", "asked-by-test", "asked-by-fixture", "overridden"],
)  # fmt: skip
def test_only_a_database_no_one_else_reads_is_made_migrated(
    argnames: tuple[str, ...], fixtures: dict[str, list[tuple[str, ...]]], at_once: bool
) -> None:
    assert only_apps_start_on(_request(argnames, fixtures)) is at_once


def test_without_pytests_fixture_information_the_database_is_empty() -> None:
    assert only_apps_start_on(SimpleNamespace(node=SimpleNamespace())) is False
