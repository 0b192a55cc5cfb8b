"""The audit page's rows: the newest entries in the admin's scope, each read column by column
(serving.audit_read), so an entry that cannot be read as stored is listed with what of it
can, and marked, instead of failing the page. That is when an admin needs the page most:
the chain's check names the entry, and the page shows where it stands among the others."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from serving.api.deps import CurrentUser
from serving.audit_read import entries_query, read_entry, readable_texts, stored_column
from serving.db.models import AuditEntry, User


@dataclass(frozen=True)
class AuditRow:
    """One entry as the page shows it. `at`, `actor`, `action`, `target`: the text stored,
    None where the entry holds none (actor, target) or it cannot be read (`unread` names
    those); `at_time`: `at` as a time, None where there is no text or it is not a time;
    `details`: as stored (None: SQL or JSON null, or they cannot be read); `unreadable`: what
    of the entry cannot be read, and why, as the chain's check says it (empty: all can)."""

    seq: int
    at: str | None
    at_time: datetime | None
    actor: str | None
    action: str | None
    target: str | None
    details: Any
    unreadable: list[str]
    unread: frozenset[str]


def _in_scope(statement: Any, user: CurrentUser) -> Any:
    """A regional admin sees what people of the region did; a national admin everything."""
    if user.region is None:
        return statement
    return statement.join(User, User.username == AuditEntry.actor).where(User.region == user.region)


def audit_rows(
    session: Session, user: CurrentUser, action: str, *, limit: int
) -> tuple[list[AuditRow], bool]:
    """The newest `limit` entries in `user`'s scope (of `action` where one is given), and
    whether older ones were left out (the page says so: page views alone fill the log
    quickly)."""
    statement: Select[Any] = entries_query(session).order_by(AuditEntry.seq.desc())
    if action:
        statement = statement.where(AuditEntry.action == action)
    rows = session.execute(_in_scope(statement.limit(limit + 1), user)).all()
    return [_shown(row) for row in rows[:limit]], len(rows) > limit


def action_codes(session: Session, user: CurrentUser) -> list[str]:
    """The action codes of the entries in `user`'s scope that can be read (one that cannot
    cannot be chosen either; its entry is listed, marked, among the others)."""
    column = stored_column(session, AuditEntry.action)
    return readable_texts(session.execute(_in_scope(select(column).distinct(), user)).scalars())


def _shown(row: Any) -> AuditRow:
    entry = read_entry(row)
    return AuditRow(
        seq=entry.seq, at=entry.at, at_time=_time(entry.at), actor=entry.actor,
        action=entry.action, target=entry.target, details=entry.details,
        unreadable=entry.unreadable, unread=entry.unread,
    )  # fmt: skip


def _time(stored: str | None) -> datetime | None:
    """The entry's time; None where its text is none or not a time (the page then shows
    the text as stored, not a time made up)."""
    if stored is None:
        return None
    try:
        return datetime.fromisoformat(stored)
    except ValueError:
        return None
