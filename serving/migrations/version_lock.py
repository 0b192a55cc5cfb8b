"""PostgreSQL: alembic_version's lock as whoever migrates takes it (`shanyraq db upgrade`,
serving/db_upgrade.py; a migrating start, env.py), waited for a bounded time and saying whom
for (`hold_version_table`), and what cut a statement short, in words (`cut_by`).

SQLSTATE 57014 (query_canceled) is both the server's statement_timeout and a
pg_cancel_backend (an administrator, or another session of the role): only the server's words
tell them apart, and only where they are English (lc_messages), else both are named. Ctrl-C
here never reaches this: psycopg cancels the statement and raises KeyboardInterrupt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from serving.db_upgrade import DatabaseInUseError

# How long alembic_version's lock is waited for before saying who holds it off.
LOCK_NOTICE_S = 2.0
# The session's lock_timeout as set and in seconds (0: none).
_LOCK_TIMEOUT = (
    "SELECT current_setting(name), setting::float / 1000 FROM pg_settings "
    "WHERE name = 'lock_timeout'"
)
# `cut_by`'s answers that are not a setting of the server.
CANCEL = "pg_cancel_backend"
UNTOLD = "statement_timeout or pg_cancel_backend"  # 57014 in words not known here
CANCELLED = "cancelled by an administrator or another session (pg_cancel_backend)"
_OR_CANCELLED = ", or an administrator or another session (pg_cancel_backend),"


def cut_by(exc: BaseException | None) -> str | None:
    """What ended the statement that `exc` (a DBAPIError) reports: "lock_timeout" (55P03),
    "statement_timeout", CANCEL or UNTOLD (57014, module docstring); None: not cut short."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None)
    if state == "55P03":  # lock_not_available
        return "lock_timeout"
    if state != "57014":  # query_canceled
        return None
    words = str(getattr(getattr(orig, "diag", None), "message_primary", None) or orig)
    if "due to statement timeout" in words:
        return "statement_timeout"
    return CANCEL if "due to user request" in words else UNTOLD


def cut_short(exc: BaseException | None, *, again: str) -> str | None:
    """Why the server cut a failed migration's statement `exc` short and what to do, in words
    (serving.migrations.migration_failed; `again`: how to run it again); None: not cut short."""
    cut = cut_by(exc)
    if cut is None:
        return None
    if cut == CANCEL:
        return (
            f"the statement was {CANCELLED}, not by a timeout: ask why (a migration locks "
            f"tables others then wait for; migrate when nothing else holds them), then {again}"
        )
    said = f"its {cut},".replace(f" or {CANCEL},", _OR_CANCELLED)
    ran = " or the statement ran long" if cut != "lock_timeout" else ""
    return (
        f"the server cut a statement short ({said} as its words say, while another session "
        f"held a table{ran}): raise {cut.split()[0]} for this role (ALTER ROLE ... SET), or "
        f"migrate when nothing else holds the tables, then {again}"
    )


def hold_version_table(
    connection: Connection,
    *,
    wait_s: float,
    on_wait: Callable[[str], None] | None,
    who: str,
    again: str,
    within_lock_timeout: bool = False,
) -> None:
    """PostgreSQL: serving.migrations.lock_version_table, waited for LOCK_NOTICE_S, then, once
    `on_wait` is told who holds it off, up to `wait_s` in all (or, `within_lock_timeout`, the
    session's shorter lock_timeout); past that, cut short by statement_timeout or cancelled
    (pg_cancel_backend), DatabaseInUseError naming the holder (the caller's transaction rolls
    back: nothing changed), `who` (what locks) and `again` (how to run it again) in its words."""
    from serving.migrations.version_table import lock_version_table

    if connection.dialect.name != "postgresql":
        return
    kept, kept_s = connection.execute(text(_LOCK_TIMEOUT)).one()
    cut = None  # what ended the wait, as `_refusal` words it
    if within_lock_timeout and kept_s and kept_s < wait_s:
        wait_s, cut = kept_s, f"lock_timeout ({kept})"
    ends = time.monotonic() + wait_s
    try:
        locked = lock_version_table(connection, within_s=min(LOCK_NOTICE_S, wait_s))
        if not locked and ends > time.monotonic():
            if on_wait is not None:
                on_wait(
                    f"waiting for {_lockers(connection)} to finish: {who} must lock the "
                    "alembic_version table, held or queued for as shown (a pg_dump holds every "
                    f"table until its dump ends); up to {wait_s:g} s in all. Ctrl-C leaves the "
                    "database unchanged"
                )
            locked = lock_version_table(connection, within_s=ends - time.monotonic())
    except DBAPIError as exc:
        cut = cut_by(exc)
        if cut in (None, "lock_timeout"):  # a lock_timeout is lock_version_table's False
            raise
        limit = connection.execute(text("SELECT current_setting('statement_timeout')")).scalar()
        if cut == UNTOLD and limit == "0":  # no statement_timeout: cancelled
            cut = CANCEL
        locked, cut = False, cut.replace("statement_timeout", f"statement_timeout ({limit})")
    if locked:
        connection.execute(text("SELECT set_config('lock_timeout', :kept, true)"), {"kept": kept})
        return
    raise _refusal(connection, cut, wait_s=wait_s, who=who, again=again)


def _refusal(
    connection: Connection, cut: str | None, *, wait_s: float, who: str, again: str
) -> DatabaseInUseError:
    """`hold_version_table`'s refusal: the lock not had within `wait_s`, or `cut` ended the
    wait (a setting of the server as set, CANCEL, or both)."""
    from serving.db.session import shown_database
    from serving.db_upgrade import DatabaseInUseError

    shown = shown_database(connection.engine.url)
    held = f"held by {_lockers(connection)}"
    if cut is None:
        return DatabaseInUseError(
            f"the database at {shown} stayed locked past {wait_s:g} s, {held}: {who} locks its "
            "alembic_version table; nothing changed: let that finish (a pg_dump ends with its "
            f"dump) or end it, then {again}"
        )
    if cut == CANCEL:
        return DatabaseInUseError(
            f"the database at {shown} stayed locked, {held}, until the wait for it was "
            f"{CANCELLED}, not by a timeout: {who} locks its alembic_version table; nothing "
            f"changed: let that finish (a pg_dump ends with its dump) or end it, then {again}"
        )
    ended = f"the server's {cut}".replace(f" or {CANCEL}", _OR_CANCELLED)
    return DatabaseInUseError(
        f"the database at {shown} stayed locked, {held}, until {ended} ended the wait: {who} "
        f"locks its alembic_version table; nothing changed: raise {cut.split()[0]} for this "
        f"role (ALTER ROLE ... SET), or wait until that has finished (off-peak), then {again}"
    )


def _lockers(connection: Connection) -> str:
    from serving.migrations.version_table import version_table_lockers

    return "; ".join(version_table_lockers(connection)) or "another session (gone now)"
