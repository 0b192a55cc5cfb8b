"""Helpers of the audit-log tests: the key their entries are signed with, session factories on
an engine (anchored to a file when asked), entries appended, what `audit.verify` finds, a log
as the service wrote it before migration 0003, and columns tampered with past the log's
guards (values SQLite keeps that are not UTF-8, and the problem `audit verify` reports)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, text
from sqlalchemy.orm import Session, sessionmaker

from serving import audit
from serving.audit_anchor import anchor_sessions
from serving.db.models import AuditEntry
from serving.db.session import make_session_factory, session_scope

KEY = b"review17-audit-key-0123456789abcdef"  # the key append_entries signs entries with


def audit_sessions(engine: Engine, anchor: Path | None = None) -> sessionmaker[Session]:
    """Sessions on `engine`, their commits recorded in the `anchor` file when one is given."""
    factory = make_session_factory(engine)
    if anchor is not None:
        anchor_sessions(factory, anchor)
    return factory


def append_entries(sessions: sessionmaker[Session], n: int, **details: object) -> None:
    """`n` entries ("amina" viewed), each in its own session; entry i's details hold i and
    `details`."""
    for i in range(n):
        with session_scope(sessions) as session:
            audit.append(session, KEY, actor="amina", action="viewed", details={"i": i, **details})


def audit_problems(sessions: sessionmaker[Session]) -> list[str]:
    """What `audit.verify` (with KEY) finds wrong with the log; empty when it is intact."""
    with session_scope(sessions) as session:
        return audit.verify(session, KEY).problems


def log_before_0003(database_url: str, key: bytes, n: int) -> None:
    """A database at migration 0002 (no head MAC yet) whose log has `n` entries under `key`,
    as the service wrote them before 0003."""
    from serving.db.session import make_engine
    from serving.migrations import upgrade

    upgrade(database_url, "0002")
    engine = make_engine(database_url)
    prev = audit.GENESIS
    with engine.begin() as connection:
        for seq in range(1, n + 1):
            entry: dict[str, Any] = {"seq": seq, "at": f"2026-01-0{seq}T00:00:00.000000+00:00",
                     "actor": "cli", "action": "user_created", "target": f"user:u{seq}",
                     "details": {}}  # fmt: skip
            digest = audit.link_hash(key, prev_hash=prev, **entry)
            connection.execute(insert(AuditEntry).values(**entry, prev_hash=prev, hash=digest))
            prev = digest
        connection.execute(text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": n, "h": prev})
    engine.dispose()


def tamper(sessions, *statements: str) -> None:
    with session_scope(sessions) as session:
        drop_audit_guards(session)
        for statement in statements:
            session.execute(text(statement))


def drop_audit_guards(db: Session | Connection) -> None:
    """What an attacker with full database access does first: remove the append-only triggers."""
    bind = db.get_bind() if isinstance(db, Session) else db
    if bind.dialect.name == "sqlite":
        for trigger in ("audit_log_no_update", "audit_log_no_delete"):
            db.execute(text(f"DROP TRIGGER {trigger}"))
    else:
        db.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))


NOT_UTF8 = "CAST(X'FF41' AS TEXT)"  # SQLite stores it as text; its driver cannot decode it


UNREADABLE = "cannot be read (not UTF-8 text: invalid start byte at byte 0)"
