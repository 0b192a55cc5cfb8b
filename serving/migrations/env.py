"""Alembic environment: runs migrations online, on the caller's connection when it passes one
(`config.attributes["connection"]`: `shanyraq db upgrade`, in its transaction and under its
lock), else on a connection of its own to the configured URL, all in one transaction."""

from __future__ import annotations

import logging

from alembic import context
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from serving.db.models import Base
from serving.db.session import make_engine
from serving.db_upgrade import LOCK_WAIT_S
from serving.migrations import seal_on
from serving.migrations.version_lock import hold_version_table
from shanyraq.shell_words import config_option

logger = logging.getLogger("serving.migrations")
config = context.config
target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        # serving.migrations.migrate_on counts the migrations applied, to name one that fails.
        on_version_apply=config.attributes.get("on_version_apply"),
    )
    # In a transaction begun by the caller, Alembic begins and commits none of its own.
    with context.begin_transaction():
        # Where the migrations begin: serving.migrations names the one that fails from it.
        config.attributes["start"] = context.get_context().get_current_revision()
        context.run_migrations()
        key = config.attributes.get("seal_with")
        if key is not None:  # serving.migrations.upgrade: sealed in the migration's transaction
            # With the migrating command's --config: the `audit verify` it may log carries it.
            seal_on(connection, key, config.attributes.get("told_config"))


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        run_on(given)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as connection:
            if connection.dialect.name != "postgresql":
                # SQLite: every migration in one transaction (the engine begins it IMMEDIATE),
                # as `shanyraq db upgrade` runs them. Left to Alembic, which takes SQLite's
                # DDL as not transactional, each migration committed on its own: a start that
                # failed or was killed midway left the database at a migration between the
                # old and the new, which the old version then refused to open.
                with connection.begin():
                    run_on(connection)
                return
            # Read in a transaction of its own, ended before the lock is asked for (a lock
            # asked for by two transactions that had both read the table would deadlock).
            with connection.begin():
                current = MigrationContext.configure(connection).get_current_revision()
            # One transaction holding alembic_version's lock: a service starting meanwhile
            # waits for the commit instead of reading a half-migrated schema. Taken only with
            # something to migrate: at the head it would wait for any reader of the table
            # (pg_dump holds one until the dump ends), and every later reader behind it.
            # Waited for a bounded time, whom for logged: a start never hangs unexplained.
            with connection.begin():
                if current != ScriptDirectory.from_config(config).get_current_head():
                    wait_s = config.attributes.get("lock_wait_s")
                    told = config_option(config.attributes.get("told_config"))  # the start's
                    hold_version_table(
                        connection,
                        wait_s=LOCK_WAIT_S if wait_s is None else wait_s,
                        on_wait=logger.warning,
                        who="migrating it as this command starts (auto_migrate)",
                        again="start again (serving.yaml migration_lock_wait_s: how long a start "
                        f"waits), or run `shanyraq db upgrade{told}` (its --lock-wait)",
                        within_lock_timeout=True,  # the role's own limit on lock waits holds
                    )
                run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; give a database URL")
run_migrations_online()
