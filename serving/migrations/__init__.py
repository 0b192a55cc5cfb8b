"""Alembic migrations of the service database: `upgrade(url)` applies them; `open_database`
opens it for a command, migrated or (read-only) refused unless already up to date."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from serving.db.session import open_engine, unavailable
from shanyraq.errors import ShanyraqError

HERE = Path(__file__).resolve().parent


class DatabaseNotMigratedError(ShanyraqError):
    """The database's schema is not the one this code's migrations end at."""

    code = "database_not_migrated"
    http_status = 500


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # '%' must be escaped for configparser (URL-encoded passwords contain it).
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def check_at_head(engine: Engine) -> None:
    """Refuse (DatabaseNotMigratedError) a database whose schema is not at the last migration."""
    scripts = ScriptDirectory.from_config(alembic_config(""))
    head = scripts.get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current == head:
        return
    if current is None:
        found = "has no Shanyraq tables (an empty database, or another application's)"
    elif current in {script.revision for script in scripts.walk_revisions()}:
        found = f"is at migration {current}"
    else:
        found = f"is at migration {current}, which this version does not know (newer code?)"
    shown = engine.url.render_as_string(hide_password=True)
    raise DatabaseNotMigratedError(
        f"the database at {shown} {found}; this version needs migration {head}. Check that "
        "--config points at the service's database; to upgrade it, start `shanyraq serve` "
        "once (it migrates at start-up while auto_migrate is true in serving.yaml), then run "
        "this again (`audit verify` and dry runs only read: they never migrate)"
    )


def open_database(url: str, *, create: bool, migrate: bool) -> Engine:
    """An engine on the service's database at the last migration, or one clear error.

    `create`: a SQLite file that does not exist may be made (else `database_missing`).
    `migrate`: bring the schema up to date; without it the engine is read-only (SQLite
    transactions begin deferred) and a schema not at the last migration is refused.
    """
    engine = open_engine(url, create=create, read_only=not migrate)
    try:
        if migrate:
            upgrade(url)
        else:
            check_at_head(engine)
    except DBAPIError as exc:
        engine.dispose()
        raise unavailable(engine, exc, doing="migrate" if migrate else "read") from None
    except BaseException:
        engine.dispose()
        raise
    return engine
