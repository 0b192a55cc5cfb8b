"""The lock on alembic_version that a migration holds on PostgreSQL (`lock_version_table`),
which every version's start-up check waits for, and who else holds or waits for it
(`version_table_lockers`). serving.migrations.version_lock waits for it a bounded time and
says whom for.
"""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

# Two first migrations of a new database take this advisory lock (b"SHANYRAQ") before one
# makes alembic_version: the second waits for the first's commit instead of failing on its own
# CREATE TABLE (`lock_version_table`).
_FIRST_MIGRATION_KEY = int.from_bytes(b"SHANYRAQ", "big")
# Alembic's own definition of its table, made before it is locked (`lock_version_table`).
_VERSION_TABLE = (
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
)

# Who holds or waits for a lock on alembic_version (or, before it exists, the first
# migration's), in words: no query text (it may hold anything), the role, address and name it
# connected with (pg_dump names itself).
_LOCKERS = f"""
SELECT CASE WHEN l.pid IS NULL THEN 'a prepared transaction'
  ELSE format('session %s of %s%s', l.pid, coalesce(a.usename, 'a role not shown'),
    CASE WHEN a.backend_type IS NULL THEN ' (its address hidden from this role)'
    ELSE ' from ' || coalesce(host(a.client_addr), 'a local socket') END) END
  || ' (' || concat_ws(', ', nullif(a.application_name, ''),
    CASE WHEN bool_or(l.granted) THEN 'holding it' ELSE 'queued for it' END,
    'in a transaction for ' || round(extract(epoch FROM now() - a.xact_start)) || ' s') || ')'
FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE (l.locktype = 'relation' AND l.relation = to_regclass('alembic_version')
    OR l.locktype = 'advisory' AND l.objsubid = 1
    AND (l.classid::bigint << 32 | l.objid::bigint) = {_FIRST_MIGRATION_KEY})
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.pid IS DISTINCT FROM pg_backend_pid()
GROUP BY l.pid, a.usename, a.backend_type, a.client_addr, a.application_name, a.xact_start
ORDER BY bool_or(l.granted) DESC, l.pid
"""


def lock_version_table(connection: Connection, *, within_s: float | None = None) -> bool:
    """PostgreSQL: lock alembic_version (made first if missing) until the transaction ends.
    Every version's start-up check reads that table (Alembic's upgrade, or
    serving.migrations.check_at_head), so a service starting meanwhile waits and then sees the
    schema committed, never a half one.

    `within_s`: waited for that long at most (lock_timeout, left set for the transaction), in
    a savepoint so that a timeout leaves the transaction usable; whether the lock was had. Any
    other error is raised as it is (serving.db.session.unavailable words it)."""
    if connection.dialect.name != "postgresql":
        return True
    if within_s is not None:  # at least 1 ms: 0 would wait for ever
        timeout = f"{max(1, round(within_s * 1000))}ms"
        connection.execute(text("SELECT set_config('lock_timeout', :ms, true)"), {"ms": timeout})
    savepoint = connection.begin_nested() if within_s is not None else None
    try:
        # Made only where missing: CREATE ... IF NOT EXISTS asks for CREATE on the schema.
        if not _has_version_table(connection):
            # Another first migration may be making it: wait for its commit, then look again.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FIRST_MIGRATION_KEY}
            )
            if not _has_version_table(connection):
                connection.execute(text(_VERSION_TABLE))
        connection.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
    except DBAPIError as exc:
        if savepoint is None:
            raise
        savepoint.rollback()
        if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
            return False
        raise
    if savepoint is not None:
        savepoint.commit()
    return True


def _has_version_table(connection: Connection) -> bool:
    # pg_class read as committed now: to_regclass may answer from this session's cache of a
    # name it found missing before (a table another session made meanwhile goes unseen).
    found = "SELECT count(*) FROM pg_class WHERE relname = 'alembic_version'"
    return bool(connection.execute(text(found + " AND pg_table_is_visible(oid)")).scalar())


def version_table_lockers(connection: Connection) -> list[str]:
    """PostgreSQL: the other sessions holding or waiting for a lock on alembic_version, in
    words (`_LOCKERS`)."""
    return list(connection.execute(text(_LOCKERS)).scalars())
