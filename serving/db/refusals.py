"""The database's refusals: the errors a command or the service raises when the database
cannot be opened, read or written, the hints every such refusal names, whether an error is
SQLite's "database is locked" (`database_locked`), and the words for a PostgreSQL refusal that
is not about reaching the server (`server_refusal`). serving.db.session words a driver's
failure with them (`unavailable`); callers import these names from here.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import DBAPIError

from shanyraq.errors import ShanyraqError

# Where the database is set; every refusal of it names them.
URL_HINT = "check database_url in serving.yaml (or SHANYRAQ_SERVING__DATABASE_URL)"
FILE_HINT = (
    "check --config, data_dir (SHANYRAQ_SERVING__DATA_DIR) and database_url "
    "(SHANYRAQ_SERVING__DATABASE_URL)"
)


class DatabaseUnavailableError(ShanyraqError):
    """The database URL cannot be parsed, names no installed driver, or cannot be reached."""

    code = "database_unavailable"
    http_status = 503


class DatabaseMissingError(ShanyraqError):
    """No database where the settings point, for a command that may not create one."""

    code = "database_missing"
    http_status = 500


class DatabaseBeingUpgradedError(ShanyraqError):
    """The database stayed locked past the busy timeout: `db upgrade` is migrating it."""

    code = "database_being_upgraded"
    http_status = 503


# A 57014 in words not known here (version_lock.UNTOLD) may also be a pg_cancel_backend.
_BY_SOMEONE = "an administrator or another session (pg_cancel_backend)"


def server_refusal(exc: DBAPIError, role: str) -> str | None:
    """What to do about a PostgreSQL error that is not about reaching the server: a privilege
    the role lacks (42501), a statement the server cut short (57014, 55P03: which setting, or
    a pg_cancel_backend, as serving.migrations.version_lock.cut_by tells); else None."""
    state = getattr(exc.orig, "sqlstate", None)
    statement = " ".join((exc.statement or "").split())
    if state == "42501" and statement.startswith("CREATE TABLE alembic_version"):
        # A first start on an empty database: there are no tables, nor an owner of them, yet.
        return (
            f"the role {role} may not create tables in this database's schema, which the first "
            "start does (PostgreSQL 15 and later grant no one CREATE on schema public): make "
            f"{role} the database's owner (ALTER DATABASE ... OWNER TO {role}) or `GRANT CREATE "
            f"ON SCHEMA public TO {role}`, then start again"
        )
    if state == "42501" and statement.startswith("LOCK TABLE alembic_version"):
        # serving.migrations.version_table.lock_version_table, on a database with its tables
        return (
            f"the role {role} may not lock the alembic_version table, which a migration must "
            "(the migrations also change tables only their owner may): run `shanyraq db "
            "upgrade` with database_url naming the role that owns the Shanyraq tables (or "
            f"`GRANT UPDATE ON alembic_version TO {role}` if {role} is to migrate), then start "
            "again: at the last migration a start takes no lock"
        )
    if state == "42501":
        return (
            f"the role {role} lacks a privilege this needs (the server's words say which): "
            f"grant it to {role}, or {URL_HINT} to name a role that has it"
        )
    if state in ("57014", "55P03"):
        # Not at import: serving.migrations loads alembic (and imports serving.db.session).
        from serving.migrations.version_lock import CANCEL, CANCELLED, UNTOLD, cut_by

        cut = cut_by(exc) or UNTOLD  # 55P03: lock_timeout; 57014: as the server's words say
        if cut == CANCEL:
            return f"the statement was {CANCELLED}, not by a timeout: ask why, then run this again"
        said = f"its {cut}," if cut != UNTOLD else f"its statement_timeout, or {_BY_SOMEONE},"
        return (
            f"the server cut the statement short ({said} as its words say): raise "
            f"{cut.split()[0]} for this role (ALTER ROLE ... SET), or run this when nothing "
            "else holds the tables (off-peak)"
        )
    return None


def database_locked(exc: BaseException | None) -> bool:
    """Whether `exc`, or an error it was raised from, is SQLite's "database is locked". Reads
    of a WAL database wait only for a connection in exclusive locking mode (`shanyraq db
    upgrade`); a write also waits for another writer (hence "or another command" in the
    refusals that say it is locked: serving.db.session's)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        orig = exc.orig if isinstance(exc, DBAPIError) else exc
        code = getattr(orig, "sqlite_errorcode", None) if isinstance(orig, sqlite3.Error) else None
        if code is not None and (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
