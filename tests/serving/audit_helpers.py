"""Helpers of the audit-log tests: the key their entries are signed with, session factories on
an engine (anchored to a file when asked), entries appended, and what `audit.verify` finds."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from serving import audit
from serving.audit_anchor import anchor_sessions
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
