"""SQLite databases already migrated to this code's head for the apps the service tests start:
a copy of one template per process, made by the service's own `upgrade`, instead of the
migrations run again at every app start (most of a short test's start). Only a database file
not made yet is a copy: a test that migrated its database itself, or left it at an older
revision, starts its app on that; `database_url` stays an empty database, for the tests of
migrating."""

from __future__ import annotations

from pathlib import Path


def migrated_sqlite(path: Path) -> str:
    """The URL of a SQLite database at `path`, a copy of a database migrated to head (made once
    per process: tests/made_once.py); a file already at `path` is left as it is."""
    from serving.migrations import upgrade
    from tests.made_once import made_file_once

    made_file_once("migrated-sqlite", "head", path, lambda kept: upgrade(f"sqlite:///{kept}"))
    return f"sqlite:///{path}"


def migrated_if_new(url: str) -> str:
    """`url`; a SQLite file it names that does not exist yet is made a migrated copy first
    (`migrated_sqlite`), and so is a PostgreSQL database that holds nothing yet
    (tests/serving/migrated_postgres.py)."""
    from tests.serving.migrated_postgres import migrated_postgres_if_empty

    prefix = "sqlite:///"
    if url.startswith(prefix) and not Path(url[len(prefix) :]).exists():
        migrated_sqlite(Path(url[len(prefix) :]))
    elif url.startswith("postgresql"):
        migrated_postgres_if_empty(url)
    return url
