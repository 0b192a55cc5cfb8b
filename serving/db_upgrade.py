"""`shanyraq db upgrade` (serving/db_cli.py): where the database stands, who else has it open,
and the upgrade itself, checked, migrated, sealed and recorded on ONE connection in ONE
transaction that holds a lock every version of the service honours.

- SQLite: the connection is in exclusive locking mode from its first read, so it holds the
  database file's EXCLUSIVE lock until it is closed. Every connection of a WAL database holds
  a SHARED lock while it is open, so having the lock shows that no other process has the
  database open; one that opens it meanwhile waits (its busy timeout) and then reads the
  committed schema, or fails with `database_being_upgraded` (serving.migrations). The holders
  are looked for first (serving.sqlite_holders, every one named), to be named at once rather
  than after the busy timeout, and again when the lock could not be had.
- PostgreSQL: the transaction first locks alembic_version (serving.migrations
  .lock_version_table), which every version's start-up check reads, then looks for other
  sessions named like the service's (`_OTHER_SESSIONS`): one that connected before the lock,
  or one waiting on it, is refused; one connecting later waits for the commit. A session that
  holds the table (pg_dump until its dump ends, any open transaction that read it) holds the
  lock off: past LOCK_NOTICE_S the upgrade says who (`on_wait`) and waits on, up to
  `lock_wait_s` in all, then refuses, nothing changed (serving.migrations.version_lock
  .hold_version_table; start-up too).

A migration that fails, with a Python error or the database's, is MigrationFailedError
naming it (serving.migrations.migration_failed, as a start-up migration says it); the
transaction rolls back whole, so nothing changed (on both databases).

`force` skips the search for other processes or sessions and, on SQLite, the exclusive lock
(another process holding the file open keeps SQLite from granting it): the migration is still
one write transaction, so others see the old schema or the new one, never half of each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.sqlite_holders import sqlite_users
from shanyraq.errors import ShanyraqError
from shanyraq.shell_words import config_option

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from serving.core.config import ServingSettings
    from serving.migrations import SchemaState


def _makes_none(config: Path | None) -> str:
    """That the `db` commands make no database, and which do (with the --config `config`
    the refused command was given, None where none: so they make it where it looked)."""
    given = config_option(config)
    return (
        f"The `db` commands make no database: on a fresh install `shanyraq users add{given}` or "
        f"`shanyraq serve{given}` creates it"
    )


def _upgrade_command(config: Path | None, *, force: bool = False) -> str:
    """`shanyraq db upgrade` as a refusal tells it, on the database it was refused on."""
    return f"`shanyraq db upgrade{' --force' if force else ''}{config_option(config)}`"


# Sessions of the service and commands on PostgreSQL: this version's are named "shanyraq"
# (serving.db.session.APPLICATION_NAME); earlier ones, which a `db upgrade` usually finds
# running, set no application_name. Another role's session shows no backend_type (unless this
# role has pg_read_all_stats): counted, as background workers (no user) are not.
_OTHER_SESSIONS = """
SELECT format('session %s of %s %s%s', pid, usename, CASE WHEN backend_type IS NULL
    THEN '(its address hidden from this role)'
    ELSE 'from ' || coalesce(host(client_addr), 'a local socket') END,
  ' (' || nullif(application_name, '') || ')')
FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND (backend_type = 'client backend' OR backend_type IS NULL AND usename IS NOT NULL)
  AND (coalesce(application_name, '') = '' OR application_name LIKE 'shanyraq%')
ORDER BY pid
"""
# PostgreSQL: how long alembic_version's lock is waited for in all by default (`shanyraq db
# upgrade --lock-wait`, a migrating start-up), saying who holds it off after
# serving.migrations.version_lock.LOCK_NOTICE_S.
LOCK_WAIT_S = 600.0


class DatabaseInUseError(ShanyraqError):
    """`db upgrade` found another process on the database (the service, most likely), or
    cannot tell here whether one has it open."""

    code = "database_in_use"
    http_status = 409


@dataclass(frozen=True)
class UpgradeReport:
    before: str
    after: str
    audit_seq: int | None  # the `database_upgraded` entry; None: nothing changed


def shown_url(settings: ServingSettings) -> str:
    """The database URL as it may be printed: its password hidden, a SQLite file's path as
    written (serving.db.session.shown_database)."""
    from serving.db.session import parse_url, shown_database

    return shown_database(parse_url(settings.resolved_database_url))


def database_status(settings: ServingSettings, config: Path | None = None) -> SchemaState:
    """Where the database stands against this version's migrations; reads only. `config`: the
    command's --config (None: none given), which the commands a refusal tells carry."""
    from sqlalchemy.exc import DBAPIError

    from serving.db.refusals import DatabaseMissingError
    from serving.db.session import open_engine, unavailable
    from serving.migrations import schema_state

    try:  # read-only, as `audit verify` reads
        engine = open_engine(settings.resolved_database_url, create=False, read_only=True)
    except DatabaseMissingError as exc:
        raise DatabaseMissingError(f"{exc.message}. {_makes_none(config)}") from None
    try:
        return schema_state(engine)
    except DBAPIError as exc:
        raise unavailable(engine, exc, doing="read") from None
    finally:
        engine.dispose()


def _refuse_in_use(settings: ServingSettings, users: list[str], config: Path | None) -> None:
    if not users:
        return
    raise DatabaseInUseError(
        f"the database at {shown_url(settings)} is in use: {'; '.join(users)}. A running "
        "service keeps the schema it started with, and migrating under it breaks it: stop "
        f"the service (and any other shanyraq command on this database), then run "
        f"{_upgrade_command(config)} again; `--force` upgrades anyway"
    )


def _refuse_held_write(settings: ServingSettings, file: Path | None, config: Path | None) -> None:
    """`--force` on SQLite kept waiting past the busy timeout: another process writes to the
    database (or another `db upgrade` holds it); --force cannot help, so it is not offered."""
    try:
        users = sqlite_users(file, config) if file is not None else []
    except DatabaseInUseError:  # cannot tell here who
        users = []
    who = "; ".join(users) or "a process not visible from here, or another `shanyraq db upgrade`"
    raise DatabaseInUseError(
        f"the database at {shown_url(settings)} stayed locked by another process's write past "
        f"SQLite's busy timeout ({who}); nothing changed: let it finish or stop it, then run "
        f"{_upgrade_command(config, force=True)} again"
    )


def _refuse_unupgradable(
    settings: ServingSettings, state: SchemaState, config: Path | None
) -> None:
    from serving.db.refusals import DatabaseMissingError
    from serving.migrations import newer_schema_error

    if state.current is None:
        raise DatabaseMissingError(
            f"the database at {shown_url(settings)} {state.describe()}; check that --config "
            f"points at the service's database. {_makes_none(config)}"
        )
    if not state.known:
        raise newer_schema_error(shown_url(settings), state)


def _exclusive(dbapi_connection: Any, _record: Any) -> None:
    # Before the connection's first read (the engine's own listener sets WAL): SQLite then
    # takes the file's EXCLUSIVE lock at that read and keeps it, without the -shm file.
    dbapi_connection.execute("PRAGMA locking_mode=EXCLUSIVE")


def upgrade_database(
    settings: ServingSettings,
    *,
    force: bool = False,
    lock_wait_s: float = LOCK_WAIT_S,
    on_wait: Callable[[str], None] | None = None,
    config: Path | None = None,
) -> UpgradeReport:
    """Migrate the database to this version's head; see the module docstring. `force`: even
    when another process has the database open (no search for it, no SQLite lock).
    PostgreSQL: `lock_wait_s`, how long to wait for the lock in all; `on_wait` is told, once,
    who holds it off when it is not had within version_lock.LOCK_NOTICE_S. `config`: the
    command's --config (None: none given), which the commands its refusals tell carry."""
    from sqlalchemy import event
    from sqlalchemy.exc import DBAPIError

    from serving.db.refusals import database_locked
    from serving.db.session import make_engine, parse_url, sqlite_file, unavailable

    state = database_status(settings, config)
    _refuse_unupgradable(settings, state, config)
    url = settings.resolved_database_url
    file = sqlite_file(parse_url(url))
    if file is not None and not (state.up_to_date or force):  # before this process opens it
        _refuse_in_use(settings, sqlite_users(file, config), config)
    key = settings.signing_key(create=False)  # refused now, before the database changes
    if state.up_to_date:
        return _seal_only(settings, state.current or "", config)
    engine = make_engine(url)
    if file is not None and not force:
        event.listen(engine, "connect", _exclusive, insert=True)
    try:
        return _upgrade_locked(
            settings, engine, key, force=force, wait=(lock_wait_s, on_wait), config=config
        )
    except DBAPIError as exc:
        if file is None or not database_locked(exc):
            raise unavailable(engine, exc, doing="migrate") from None
    finally:
        engine.dispose()
    if force:  # no lock was asked for: another process's write held it past the busy timeout
        _refuse_held_write(settings, file, config)
    # SQLite did not grant the lock within its busy timeout: a process opened the database
    # after it was looked for. Looked for again now that this process has it closed.
    if file is not None:
        _refuse_in_use(settings, sqlite_users(file, config), config)
    raise DatabaseInUseError(
        f"the database at {shown_url(settings)} was held by another process, gone now or not "
        "visible from here: stop the service (and any other shanyraq command on this "
        f"database), then run {_upgrade_command(config)} again"
    )


def _seal_only(settings: ServingSettings, revision: str, config: Path | None) -> UpgradeReport:
    """Nothing to migrate: the audit head is sealed all the same, as every migrating command
    seals it (serving.cli.open_with_key)."""
    from serving.cli import open_with_key

    engine, _ = open_with_key(settings, may_create=False, migrate=False, config=config)
    engine.dispose()
    return UpgradeReport(before=revision, after=revision, audit_seq=None)


def _upgrade_locked(
    settings: ServingSettings,
    engine: Engine,
    key: bytes,
    *,
    force: bool,
    wait: tuple[float, Callable[[str], None] | None],
    config: Path | None,
) -> UpgradeReport:
    """The check, the migration, the seal and the `database_upgraded` entry in one
    transaction on one connection, under the lock (module docstring)."""
    from sqlalchemy import text

    from serving import audit
    from serving.audit_anchor import anchor_sessions
    from serving.db.session import make_session_factory, session_scope
    from serving.migrations import MigrationFailedError, migrate_on, migration_failed, schema_state
    from serving.migrations.version_lock import hold_version_table
    from shanyraq import __version__

    sessions = make_session_factory(engine)
    # Written once committed; the `audit verify` its append may tell carries the --config.
    anchor_sessions(sessions, settings.resolved_audit_anchor_file, config)
    with session_scope(sessions) as session:
        connection = session.connection()  # begun: SQLite takes its lock here
        hold_version_table(
            connection, wait_s=wait[0], on_wait=wait[1], who="`shanyraq db upgrade`",
            again=f"run {_upgrade_command(config)} again (--lock-wait SECONDS waits longer)",
        )  # fmt: skip
        if connection.dialect.name == "postgresql" and not force:
            others = list(connection.execute(text(_OTHER_SESSIONS)).scalars())
            _refuse_in_use(settings, others, config)
        before = schema_state(connection)  # as it is under the lock, not as it was read first
        _refuse_unupgradable(settings, before, config)
        if not before.up_to_date:
            try:
                migrate_on(connection)
            except MigrationFailedError as exc:  # rolled back whole as it propagates
                again = f"run {_upgrade_command(config)} again"
                raise migration_failed(
                    shown_url(settings), exc, before=before.current, again=again
                ) from exc.__cause__
        audit.seal_head(session, key, config)
        after = schema_state(connection).current or ""
        if before.up_to_date:  # another upgrade ran meanwhile
            return UpgradeReport(before=after, after=after, audit_seq=None)
        entry = audit.append(
            session, key, actor="cli", action="database_upgraded", target="database",
            details={"from_revision": before.current, "to_revision": after,
                     "code_version": __version__},
        )  # fmt: skip
    return UpgradeReport(before=before.current or "", after=after, audit_seq=entry.seq)
