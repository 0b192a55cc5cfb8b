"""Alembic migrations of the service database: `upgrade(url)` applies them, `schema_state`
says where a database stands, and `open_database` opens it for a command, migrated or
refused unless already up to date.

A migration holds a lock that every version's start-up check waits for: on PostgreSQL
`lock_version_table` (.version_table; env.py and `shanyraq db upgrade` take it through
.version_lock.hold_version_table, which waits a bounded time and says whom for); on SQLite
`db upgrade`'s connection in exclusive locking mode. A SQLite database still locked past the
busy timeout is refused with DatabaseBeingUpgradedError (serving.db.session.unavailable).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect
from sqlalchemy.exc import DBAPIError

from serving.db.refusals import database_locked
from serving.db.session import open_engine, parse_url, shown_database, unavailable
from shanyraq.errors import ShanyraqError
from shanyraq.shell_words import config_option

HERE = Path(__file__).resolve().parent


def upgrade_hint(config: Path | None = None) -> str:
    """What brings a database behind this version up to date, as the refusal tells it: with
    the --config `config` the refused command was given (None: none, or not known here), so
    the upgrade and the backup work on the database it was refused on."""
    given = config_option(config)
    return (
        f"run `shanyraq db upgrade{given}` (back the database up first: "
        f"`shanyraq db backup OUT{given}`)"
    )


class DatabaseNotMigratedError(ShanyraqError):
    """The database's schema is not the one this code's migrations end at."""

    code = "database_not_migrated"
    http_status = 500


class MigrationFailedError(ShanyraqError):
    """A migration raised an error: a fault in it (a Python error), or a database holding
    what it did not expect (the database's error). `migrate_on` names the migration."""

    code = "migration_failed"
    http_status = 500


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # '%' must be escaped for configparser (URL-encoded passwords contain it).
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(
    url: str,
    revision: str = "head",
    *,
    seal_with: bytes | None = None,
    lock_wait_s: float | None = None,
    config: Path | None = None,
) -> None:
    """Migrate to `revision` on a connection of env.py's own; with `seal_with` (the audit key),
    seal an audit head that carries no MAC (serving.audit.seal_head) in the migration's own
    transaction, as every code path that migrates the service must. On PostgreSQL the lock on
    alembic_version is waited for up to `lock_wait_s` (.version_lock.hold_version_table).
    `config`: the migrating command's --config (None: none given), which the commands its
    refusals and the sealing's log lines tell carry.

    A migration that fails is MigrationFailedError naming it (`migration_failed`), the
    transaction rolled back. A database at a migration this version does not know (newer code
    wrote it) is refused, unchanged, with DatabaseNotMigratedError, not Alembic's "Can't
    locate revision". Another error of the database is serving.db.session.unavailable's."""
    migration = alembic_config(url)
    migration.attributes["seal_with"] = seal_with  # env.py
    migration.attributes["told_config"] = config  # env.py
    migration.attributes["lock_wait_s"] = lock_wait_s  # env.py
    try:
        _upgrade_naming_failure(migration, revision)
    except MigrationFailedError as exc:
        shown = shown_database(parse_url(url))
        before = migration.attributes["start"]
        again = f"start again or run `shanyraq db upgrade{config_option(config)}`"
        raise migration_failed(shown, exc, before=before, again=again) from exc.__cause__
    except CommandError:
        refuse_newer_schema(url)  # the reason Alembic cannot migrate a database of ours
        raise
    except DBAPIError as exc:  # before the migrations began, or the connection was lost
        raise unavailable(parse_url(url), exc, doing="migrate") from None


def migration_failed(
    shown: str, exc: MigrationFailedError, *, before: str | None, again: str
) -> MigrationFailedError:
    """`exc` (`_upgrade_naming_failure`) as every command that migrates says it: where it
    leaves the database at `shown`, whose migration was `before` (None: no tables yet), and
    what most likely caused it, with what to do; `again` says how to run the command again."""
    from serving.migrations.version_lock import cut_short
    from shanyraq.cli import DEBUG_ENV

    cause = exc.__cause__
    likely = cut_short(cause, again=again)  # a timeout of the server's, or pg_cancel_backend
    if likely is None and isinstance(cause, DBAPIError):
        likely = (
            "the database holds something this migration does not expect (the database's "
            f"words say what): put it right, then {again}"
        )
    elif likely is None:
        likely = (
            "a fault in this version's migration: report it with what the same command prints "
            f"with {DEBUG_ENV}=1"
        )
    at = f"at migration {before}" if before else "without Shanyraq tables"
    return MigrationFailedError(
        f"cannot migrate the database at {shown}: {exc.message}; nothing changed: the migration "
        f"is one transaction, rolled back, and the database is still {at}. Most likely {likely}"
    )


def migrate_on(connection: Connection, revision: str = "head") -> None:
    """Migrate to `revision` on `connection`, in its transaction (env.py runs on it): the
    caller holds the lock and commits (serving/db_upgrade.py). A migration that fails is
    MigrationFailedError naming it (`_upgrade_naming_failure`)."""
    config = alembic_config("")
    config.attributes["connection"] = connection
    _upgrade_naming_failure(config, revision)


def _upgrade_naming_failure(config: Config, revision: str) -> None:
    """command.upgrade. A migration that fails is raised as MigrationFailedError naming it, in
    the error's own words (the error as its cause), a Python error or the database's; raised
    as they are: an error before the migrations begin (env.py sets "start" as they do), a
    ShanyraqError, Alembic's CommandError, SQLite's lock and a lost connection (a
    DBAPIError)."""
    applied: list[str] = []
    config.attributes["on_version_apply"] = lambda **_: applied.append("")  # env.py
    try:
        command.upgrade(config, revision)
    except (ShanyraqError, CommandError):
        raise
    except DBAPIError as exc:
        if "start" not in config.attributes or database_locked(exc) or _connection_lost(exc):
            raise
        step = _step(config.attributes["start"], revision, len(applied))
        raise MigrationFailedError(f"{step} failed on the database: {_server_words(exc)}") from exc
    except Exception as exc:
        if "start" not in config.attributes:
            raise
        reason = (str(exc).strip().splitlines() or [""])[0]
        step = _step(config.attributes["start"], revision, len(applied))
        failed = f"{step} failed: {type(exc).__name__}"
        raise MigrationFailedError(f"{failed}: {reason}" if reason else failed) from exc


def _step(start: str | None, target: str, done: int) -> str:
    """The migration run after the first `done` ones from `start`, in words."""
    scripts = ScriptDirectory.from_config(alembic_config(""))
    path = list(reversed(list(scripts.iterate_revisions(target, start or "base"))))
    if done >= len(path):
        return "the migration"
    doc = (path[done].doc or "").strip().splitlines()
    return f"migration {path[done].revision}" + (f" ({doc[0].rstrip('.')})" if doc else "")


def _connection_lost(exc: DBAPIError) -> bool:
    """The server or the connection went away (SQLSTATE class 08; 57P..: shut down, the
    database dropped, the session ended)."""
    state = getattr(exc.orig, "sqlstate", None) or ""
    return exc.connection_invalidated or state.startswith(("08", "57P"))


def _server_words(exc: DBAPIError) -> str:
    """The database's own message, on one line, with its SQLSTATE where it gives one."""
    lines = [line.strip() for line in str(exc.orig or exc).splitlines() if line.strip()]
    state = getattr(exc.orig, "sqlstate", None)
    return "; ".join(lines or [type(exc).__name__]) + (f" (SQLSTATE {state})" if state else "")


def seal_on(connection: Connection, key: bytes, config: Path | None = None) -> bool:
    """serving.audit.seal_head on `connection`, in its transaction (the session commits none):
    a head that migration 0003 left without a MAC gets one, so a tail cut after the upgrade is
    detected. env.py seals in the migration's transaction; `seal_audit_head` in one of its own.
    `config`: the sealing command's --config, which the `audit verify` it may log carries."""
    from sqlalchemy.orm import Session

    from serving import audit

    with Session(bind=connection) as session:  # joins it: ends none of the caller's
        sealed = audit.seal_head(session, key, config)
        session.flush()
    return sealed


def seal_audit_head(engine: Engine, key: bytes, config: Path | None = None) -> bool:
    """`seal_on` in a transaction of its own."""
    with engine.begin() as connection:
        return seal_on(connection, key, config)


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands against this code's migrations."""

    current: str | None  # its Alembic revision; None: no Shanyraq tables
    head: str  # the revision this code needs
    known: bool  # `current` is one of this code's migrations

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    @property
    def upgradable(self) -> bool:
        """Behind, and `shanyraq db upgrade` can bring it to `head`."""
        return self.current is not None and self.known and not self.up_to_date

    def describe(self) -> str:
        if self.current is None:
            return "has no Shanyraq tables (an empty database, or another application's)"
        if self.known:
            return f"is at migration {self.current}"
        return f"is at migration {self.current}, which this version does not know (newer code?)"


def known_revision(revision: str | None) -> bool:
    """Whether `revision` is one of this code's migrations."""
    scripts = ScriptDirectory.from_config(alembic_config(""))
    return revision in {script.revision for script in scripts.walk_revisions()}


def schema_state(bind: Engine | Connection) -> SchemaState:
    """Read only: the database's revision (no table is made) and this code's head; on a
    Connection, in its transaction."""
    scripts = ScriptDirectory.from_config(alembic_config(""))
    if isinstance(bind, Connection):
        current = MigrationContext.configure(bind).get_current_revision()
    else:
        with bind.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    known = known_revision(current)
    return SchemaState(current=current, head=scripts.get_current_head() or "", known=known)


def newer_schema_error(shown_url: str, state: SchemaState) -> DatabaseNotMigratedError:
    """The refusal of the database at `shown_url` (password hidden) at a migration this
    version does not know (`state.known` False): no upgrade can help, only the code that
    wrote it."""
    return DatabaseNotMigratedError(
        f"the database at {shown_url} {state.describe()}; this version ends at migration "
        f"{state.head} and cannot take it back: run the version that wrote it"
    )


def refuse_newer_schema(url: str) -> None:
    """`newer_schema_error` when the database at `url` is at a migration this version does not
    know; nothing when it is not, or cannot be read (the caller's own error then stands)."""
    try:
        engine = open_engine(url, create=False, read_only=True)
    except ShanyraqError:
        return
    try:
        state = schema_state(engine)
    except DBAPIError:
        return
    finally:
        engine.dispose()
    if state.current is not None and not state.known:
        raise newer_schema_error(shown_database(engine.url), state)


def check_at_head(engine: Engine, config: Path | None = None) -> None:
    """Refuse (DatabaseNotMigratedError) a database whose schema is not at the last migration;
    the upgrade it tells carries `config`, the refused command's --config (`upgrade_hint`)."""
    state = schema_state(engine)
    if state.up_to_date:
        return
    shown = shown_database(engine.url)
    if state.current is not None and not state.known:
        raise newer_schema_error(shown, state)
    raise DatabaseNotMigratedError(
        f"the database at {shown} {state.describe()}; this version needs migration "
        f"{state.head}. Check that --config points at the service's database; to upgrade it, "
        f"{upgrade_hint(config)}, then run this again (`shanyraq serve` also migrates at start-up "
        "while auto_migrate is true in serving.yaml; `audit verify`, `db status` and dry runs "
        "never migrate)"
    )


def _has_no_tables(engine: Engine) -> bool:
    return not inspect(engine).get_table_names()


def open_database(
    url: str,
    *,
    create: bool,
    migrate: bool,
    read_only: bool | None = None,
    lock_wait_s: float | None = None,
    config: Path | None = None,
) -> Engine:
    """An engine on the service's database at the last migration, or one clear error.

    `create`: a SQLite file that does not exist may be made (else `database_missing`), and a
    database with no tables at all gets this version's schema even without `migrate`: making
    a database is not upgrading one. `migrate`: bring the schema up to date (`upgrade`, its
    `lock_wait_s`); without it a schema not at the last migration is refused
    (`database_not_migrated`). `read_only` (default: not `migrate`): a read-only engine
    (SQLite transactions begin deferred, WAL is not set), for commands that write nothing.
    `config`: the --config of the command opening it (None: none given, or a library caller),
    which the upgrade a refusal (or a failed migration's) tells carries.
    """
    read_only = not migrate if read_only is None else read_only
    engine = open_engine(url, create=create, read_only=read_only)
    try:
        if migrate or (create and not read_only and _has_no_tables(engine)):
            upgrade(url, lock_wait_s=lock_wait_s, config=config)
        else:
            check_at_head(engine, config)
    except DBAPIError as exc:
        engine.dispose()
        raise unavailable(engine, exc, doing="migrate" if migrate else "read") from None
    except BaseException:
        engine.dispose()
        raise
    return engine
