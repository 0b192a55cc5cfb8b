"""`audit verify` at the edges: entries below seq 1, an empty or one-entry log, swapped
entries, unicode details, the CLI's exit code and lines, and one pass over the log."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, event, insert, update

from serving import audit
from serving.db.models import AuditEntry, AuditHead
from serving.db.session import session_scope
from tests.serving.audit_helpers import (
    KEY,
    append_entries,
    audit_problems,
    audit_sessions,
    drop_audit_guards,
)


@pytest.mark.parametrize("seq", [0, -1])
def test_an_entry_inserted_below_seq_1_is_reported(engine, seq):
    sessions = audit_sessions(engine)
    append_entries(sessions, 2)
    with session_scope(sessions) as session:
        first = session.get(AuditEntry, 1)
        assert first is not None
        session.execute(
            insert(AuditEntry).values(
                seq=seq, at=first.at, actor="mallory", action="login", target=None, details={},
                prev_hash=audit.GENESIS,
                hash=audit.link_hash(b"a guessed key", prev_hash=audit.GENESIS, seq=seq,
                                     at=first.at, actor="mallory", action="login", target=None,
                                     details={}),
            )
        )  # fmt: skip
    assert audit_problems(sessions) == [
        f"entry {seq}: inserted before the chain's first entry (seqs start at 1)"
    ]


def test_the_walk_reads_each_entry_once(engine):
    """Each batch is a LIMITed query: a client-side cursor (psycopg) otherwise receives every
    entry after the batch's start, so a long log crossed the wire about n/batch times."""
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite hands rows over as they are fetched; nothing more is read")
    sessions = audit_sessions(engine)
    append_entries(sessions, 12)
    received: list[int] = []

    def count(_conn: object, cursor: Any, statement: str, *_rest: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "audit_log" in statement:
            received.append(cursor.rowcount)

    event.listen(engine, "after_cursor_execute", count)
    try:
        with session_scope(sessions) as session:
            result = audit.verify(session, KEY, batch=5)
    finally:
        event.remove(engine, "after_cursor_execute", count)
    assert result.ok and result.entries == 12
    assert sum(received) == 12, received


def test_an_empty_log_is_intact_and_a_wiped_one_entry_log_is_caught_by_the_anchor(engine, tmp_path):
    anchor = tmp_path / "anchor.log"
    sessions = audit_sessions(engine, anchor)
    with session_scope(sessions) as session:
        assert audit.verify(session, KEY) == audit.VerifyResult(ok=True, entries=0, problems=[])
    append_entries(sessions, 1)
    with session_scope(sessions) as session:
        assert audit.verify(session, KEY) == audit.VerifyResult(ok=True, entries=1, problems=[])
        drop_audit_guards(session)
        session.execute(delete(AuditEntry))
        session.execute(update(AuditHead).values(seq=0, hash=audit.GENESIS, mac=None))
    assert audit_problems(sessions) == [
        "the log ends at seq 0 but the anchor saw seq 1: entries were removed from its end"
    ]


def test_two_swapped_entries_are_named_at_the_first(engine):
    sessions = audit_sessions(engine)
    append_entries(sessions, 4)
    with session_scope(sessions) as session:
        drop_audit_guards(session)
        two, three = (session.get(AuditEntry, seq) for seq in (2, 3))
        assert two is not None and three is not None
        fields = ("at", "details", "prev_hash", "hash")
        taken = {name: getattr(three, name) for name in fields}
        for name in fields:  # seq 2 gets entry 3's content and seq 3 entry 2's
            setattr(three, name, getattr(two, name))
            setattr(two, name, taken[name])
    problems = audit_problems(sessions)
    assert problems[0] == "entry 2: does not follow the entry before it", problems


def test_one_letter_of_a_nested_unicode_detail_edited_is_detected(engine):
    sessions = audit_sessions(engine)
    details = {"name": "Әлия Қасымова", "nested": {"b": [1.5, 2e20], "a": {"d": None, "c": "ү"}}}
    append_entries(sessions, 3, **details)
    assert not audit_problems(sessions)
    edited = {"i": 1, **details, "name": "Әлия Қасымовa"}  # a Latin "a" for the Cyrillic one
    with session_scope(sessions) as session:
        drop_audit_guards(session)
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(details=edited))
    assert audit_problems(sessions) == ["entry 2: content was changed after it was written"]
