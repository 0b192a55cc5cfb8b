"""PostgreSQL databases already migrated to this code's head for the apps the service tests
start, as tests/serving/migrated_sqlite.py does for SQLite: a test's database that is still
empty when its app starts is replaced by a copy of one template per server and process
(`CREATE DATABASE ... TEMPLATE`, 0.09 s here) instead of the 15 migrations run again (0.38 s,
half of it alembic's work in the test process). A database that holds anything (the test
migrated it, or left it at an older revision) or that something is connected to is left to the
app's start, as before. `database_url` stays an empty database, for the tests of migrating,
except for a test whose database only its apps' start reads (tests/serving/database_fixtures.py
`only_apps_start_on`): that one is made a copy at once (`migrated_postgres_db`), one database
made instead of two."""

from __future__ import annotations

import queue
import threading
from typing import Any

from tests.serving.migration_helpers import plain

# The database scripts/postgres.sh makes, which the tests' databases are created from.
MAINTENANCE = "shanyraq"
# Which templates this process made, by server (the URL without the database name).
_TEMPLATES: dict[str, str] = {}
_DROPS: queue.Queue[tuple[str, str]] = queue.Queue()
_DROPPER: list[threading.Thread] = []

# Anything a migration or a test makes lives in a schema of its own: tables, views,
# sequences, indexes (pg_class), enum and other types (pg_type), or a schema (pg_namespace).
_ANYTHING = """
SELECT (SELECT count(*) FROM pg_catalog.pg_class c
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND n.nspname NOT LIKE 'pg_toast%')
     + (SELECT count(*) FROM pg_catalog.pg_type t
          JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND n.nspname NOT LIKE 'pg_toast%')
     + (SELECT count(*) FROM pg_catalog.pg_namespace
         WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public')
           AND nspname NOT LIKE 'pg_toast%' AND nspname NOT LIKE 'pg_temp%')
"""


def _server_and_name(url: str) -> tuple[str, str]:
    server, _, name = url.rpartition("/")
    return server, name


def _template(server: str, maintenance: str) -> str:
    """The name of this process's migrated template on `server`, made by the service's own
    `upgrade` the first time."""
    import os

    import psycopg

    from serving.migrations import upgrade

    if server not in _TEMPLATES:
        name = f"head_{os.getpid()}"
        with psycopg.connect(plain(maintenance), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        upgrade(f"{server}/{name}")
        _TEMPLATES[server] = name
    return _TEMPLATES[server]


def _drop_forever() -> None:
    import psycopg

    while True:
        maintenance, name = _DROPS.get()
        try:
            with psycopg.connect(maintenance, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        except psycopg.Error:
            pass  # a database left behind goes with the cluster's folder at the end


def _drop_later(maintenance: str, name: str) -> None:
    """Drop `name` on a thread of its own (0.3 s, mostly waiting for the disk), so the test
    goes on meanwhile; what is not dropped when the process ends goes with the cluster."""
    _DROPS.put((plain(maintenance), name))
    if not _DROPPER:
        thread = threading.Thread(target=_drop_forever, name="drop-emptied-dbs", daemon=True)
        thread.start()
        _DROPPER.append(thread)


# Sessions connected to this database other than the asking one.
_OTHERS = """
SELECT count(*) FROM pg_catalog.pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


def _renamed(maintenance: Any, name: str, to: str) -> bool:
    """Whether `name` could be renamed `to`: not while a session is connected to it. The
    server itself waits up to 5 s for sessions to leave before it refuses (a connection just
    closed, as the caller's own, leaves in milliseconds), so one try is enough."""
    import psycopg

    try:
        maintenance.execute(f'ALTER DATABASE "{name}" RENAME TO "{to}"')
    except psycopg.errors.ObjectInUse:
        return False
    return True


def migrated_postgres_db(server_url: str) -> str:
    """The URL of a new database on the server of `server_url`, a copy of this process's
    template migrated to head: what `migrated_postgres_if_empty` makes of an empty one, made
    with one `CREATE DATABASE` (each costs about 0.2 s of the server's CPU here) instead of an
    empty database created, renamed away, replaced by the copy and dropped."""
    import psycopg

    from tests.serving.helpers import new_database_name

    server, _ = _server_and_name(server_url)
    maintenance = f"{server}/{MAINTENANCE}"
    template = _template(server, maintenance)
    name = new_database_name()
    with psycopg.connect(plain(maintenance), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return f"{server}/{name}"


def migrated_postgres_if_empty(url: str) -> str:
    """`url`; the PostgreSQL database it names, when it holds nothing and nothing is connected
    to it, is replaced by a copy of a database migrated to head first."""
    import psycopg

    server, name = _server_and_name(url)
    maintenance = f"{server}/{MAINTENANCE}"
    if name == MAINTENANCE:
        return url
    with psycopg.connect(plain(url), autocommit=True) as connection:
        row: Any = connection.execute(_ANYTHING).fetchone()
        others: Any = connection.execute(_OTHERS).fetchone()
    if row is None or row[0] != 0:
        return url
    if others is None or others[0] != 0:
        # Something holds a connection to it: the app's start migrates it. Asked first, as a
        # rename would wait 5 s for that session before it is refused.
        return url
    template = _template(server, maintenance)
    emptied = f"{name}_empty"
    with psycopg.connect(plain(maintenance), autocommit=True) as connection:
        if not _renamed(connection, name, emptied):
            return url  # something holds a connection to it: the app's start migrates it
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    _drop_later(maintenance, emptied)
    return url
