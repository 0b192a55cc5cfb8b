"""The audit tables read as they are stored, so `audit.verify` reports a tampered column
instead of failing on it.

SQLite keeps any value in any column: bytes that are not UTF-8 in a text column (its driver
then fails the whole query), a blob where a hash belongs, text where a number does. On
SQLite every column but the log's seq (an alias of the row id: always a whole number) is
read as bytes and decoded here; a column that cannot be read is named, and the rest of the
row is still used. PostgreSQL's columns hold only their own type; its json column is read
as its text, so details are parsed here on both databases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, LargeBinary, Row, Select, Text, cast, select
from sqlalchemy.orm import Session

from serving.db.models import AuditEntry, AuditHead

_TEXT_COLUMNS = ("at", "actor", "action", "target", "prev_hash", "hash")
_NULLABLE = frozenset({"actor", "target"})


@dataclass(frozen=True)
class Link:
    """An entry's columns but its details, every one read: what its hash is made from."""

    seq: int
    at: str
    actor: str | None
    action: str
    target: str | None
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class StoredEntry:
    """One audit_log row as read: `link` when every column could be read, and `prev_hash`,
    `hash`, `at`, `actor`, `action` and `target` on their own (None: that one could not, or,
    actor and target, is NULL), so an entry that cannot be read whole may still tell what it
    is of; `unreadable`: what could not, why; `unread`: the text columns that could not."""

    seq: int
    prev_hash: str | None
    hash: str | None
    link: Link | None
    details: Any
    unreadable: list[str]
    target: str | None
    at: str | None
    actor: str | None
    action: str | None
    unread: frozenset[str]


@dataclass(frozen=True)
class StoredHead:
    seq: int
    hash: str
    mac: str | None


def entries_query(session: Session) -> Select[Any]:
    """audit_log rows, every column as stored, for `read_entry`; the caller orders and
    bounds it. Columns, not entries: the caller's session is left as it was."""
    sqlite = _is_sqlite(session)
    texts = [_as_stored(getattr(AuditEntry, name), sqlite=sqlite) for name in _TEXT_COLUMNS]
    details = cast(AuditEntry.details, LargeBinary if sqlite else Text).label("details")
    return select(AuditEntry.seq, *texts, details)


def read_entry(row: Row[Any]) -> StoredEntry:
    texts: dict[str, str | None] = {}
    unreadable, unread = [], set()
    for name in _TEXT_COLUMNS:
        texts[name], why = _text(getattr(row, name), nullable=name in _NULLABLE)
        if why is not None:
            unreadable.append(f"column {name} cannot be read ({why})")
            unread.add(name)
    details, why = _details(row.details)
    if why is not None:
        unreadable.append(f"details cannot be read ({why})")
    at, action, prev_hash, own = (texts[n] for n in ("at", "action", "prev_hash", "hash"))
    link = None
    if (  # a required column is None only when it cannot be read
        not unreadable
        and at is not None
        and action is not None
        and prev_hash is not None
        and own is not None
    ):
        link = Link(row.seq, at, texts["actor"], action, texts["target"], prev_hash, own)
    return StoredEntry(
        row.seq, prev_hash, own, link, details, unreadable, texts["target"], at,
        texts["actor"], action, frozenset(unread),
    )  # fmt: skip


def readable_texts(values: Iterable[bytes | str | None]) -> list[str]:
    """Text values selected as stored (`stored_column`), decoded as `read_entry` decodes
    them: NULLs and those that cannot be read left out."""
    return [text for text in (_text(raw, nullable=True)[0] for raw in values) if text is not None]


def stored_column(session: Session, column: Any) -> ColumnElement[Any]:
    """`column` to select as stored (on SQLite its bytes, decoded by `read_entry`'s rules)."""
    return _as_stored(column, sqlite=_is_sqlite(session))


def read_hashes(
    session: Session, seqs: Collection[int]
) -> dict[int, tuple[str | None, str | None]]:
    """The log's hash at each of `seqs` it has an entry at, as stored: (hash, None), or
    (None, why it cannot be read)."""
    column = _as_stored(AuditEntry.hash, sqlite=_is_sqlite(session))
    rows = session.execute(select(AuditEntry.seq, column).where(AuditEntry.seq.in_(seqs)))
    return {seq: _text(raw, nullable=False) for seq, raw in rows}


def read_head(session: Session) -> tuple[StoredHead | None, list[str]]:
    """The head row (None: missing, or a column cannot be read) and why any column cannot."""
    sqlite = _is_sqlite(session)
    columns = (AuditHead.seq, AuditHead.hash, AuditHead.mac)
    row = session.execute(
        select(*(_as_stored(c, sqlite=sqlite) for c in columns)).where(AuditHead.id == 1)
    ).one_or_none()
    if row is None:
        return None, []
    seq, why_seq = _whole_number(row.seq)
    digest, why_hash = _text(row.hash, nullable=False)
    mac, why_mac = _text(row.mac, nullable=True)
    unreadable = [
        f"the head's column {name} cannot be read ({why})"
        for name, why in (("seq", why_seq), ("hash", why_hash), ("mac", why_mac))
        if why is not None
    ]
    if unreadable or seq is None or digest is None:
        return None, unreadable
    return StoredHead(seq, digest, mac), []


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _as_stored(column: Any, *, sqlite: bool) -> ColumnElement[Any]:
    return cast(column, LargeBinary).label(column.key) if sqlite else column


def _text(value: bytes | str | None, *, nullable: bool) -> tuple[str | None, str | None]:
    """A text column's value, or why it cannot be read."""
    if value is None:
        return None, None if nullable else "empty (NULL), where every entry has text"
    if isinstance(value, str):
        return value, None
    try:
        return value.decode(), None
    except UnicodeDecodeError as exc:
        return None, _not_utf8(exc)


def _whole_number(value: bytes | int | None) -> tuple[int | None, str | None]:
    if value is None:
        return None, "empty (NULL)"
    if isinstance(value, int):
        return value, None
    try:
        text = value.decode()
    except UnicodeDecodeError as exc:
        return None, _not_utf8(exc)
    if re.fullmatch(r"-?[0-9]+", text) is None:
        return None, f"not a whole number: {text[:40]!r}"
    return int(text), None


def _details(raw: bytes | str | None) -> tuple[Any, str | None]:
    """An entry's details from the stored text, or why they cannot be read."""
    if raw is None:
        return None, None  # SQL NULL: hashed as JSON null, as the entry reads it
    try:
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw), None
    except UnicodeDecodeError as exc:
        return None, _not_utf8(exc)
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc}"


def _not_utf8(exc: UnicodeDecodeError) -> str:
    return f"not UTF-8 text: {exc.reason} at byte {exc.start}"
