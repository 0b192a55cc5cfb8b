"""`audit verify` reports details that cannot be read instead of crashing, and leaves the
caller's session alone; `append` refuses details the databases would not keep alike."""

from __future__ import annotations

import pytest
from sqlalchemy import text, update

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


@pytest.mark.parametrize(
    ("stored", "why"),
    [
        ("'{\"i\": 1'", "not JSON: Expecting ',' delimiter"),
        ("X'FF7B7D'", "not UTF-8 text: invalid start byte at byte 0"),
    ],
)
def test_details_that_cannot_be_read_are_reported_and_the_walk_goes_on(sqlite_engine, stored, why):
    sessions = audit_sessions(sqlite_engine)
    append_entries(sessions, 4)
    with session_scope(sessions) as session:
        drop_audit_guards(session)
        session.execute(text(f"UPDATE audit_log SET details = {stored} WHERE seq = 2"))
        # The walk still checks what follows: entry 4 edited as well is reported too.
        session.execute(update(AuditEntry).where(AuditEntry.seq == 4).values(actor="mallory"))
    problems = audit_problems(sessions)
    assert len(problems) == 2
    assert problems[0].startswith(f"entry 2: details cannot be read ({why}")
    assert problems[1] == "entry 4: content was changed after it was written"


def test_details_edited_to_other_json_are_still_read_and_caught(engine):
    # Both databases: the details are read as stored text (PostgreSQL's json column too).
    sessions = audit_sessions(engine)
    append_entries(sessions, 3, note="née")
    with session_scope(sessions) as session:
        drop_audit_guards(session)
        session.execute(
            update(AuditEntry).where(AuditEntry.seq == 2).values(details={"i": 1, "note": "nee"})
        )
    assert audit_problems(sessions) == ["entry 2: content was changed after it was written"]
    with session_scope(sessions) as session:
        result = audit.verify(session, KEY, batch=2)
    assert result.entries == 3


def test_verify_leaves_objects_the_caller_loaded_in_its_session(engine):
    sessions = audit_sessions(engine)
    append_entries(sessions, 3)
    with session_scope(sessions) as session:
        head = session.get(AuditHead, 1)
        first = session.get(AuditEntry, 1)
        assert head is not None and first is not None
        result = audit.verify(session, KEY, batch=2)  # two batches: the old walk cleared both
        assert result.ok and result.entries == 3
        assert head in session and first in session
        assert session.get(AuditHead, 1) is head
        # A request goes on with what it loaded: here, an append after verifying.
        audit.append(session, KEY, actor="amina", action="audit_verified", details={})
        assert head.seq == 4
    assert audit_problems(sessions) == []


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_append_refuses_non_finite_numbers_on_both_databases_naming_the_key(engine, value):
    sessions = audit_sessions(engine)
    append_entries(sessions, 1)
    refused = pytest.raises(ValueError, match=r"audit details\['scores'\]\[1\] is -?(nan|inf)")
    with session_scope(sessions) as session, refused:
        audit.append(session, KEY, actor="amina", action="viewed", details={"scores": [0.5, value]})
    with session_scope(sessions) as session:
        head = session.get(AuditHead, 1)
        assert head is not None and head.seq == 1
    assert audit_problems(sessions) == []


def test_append_refuses_keys_that_cannot_be_sorted_naming_where(engine):
    sessions = audit_sessions(engine)
    with session_scope(sessions) as session:
        with pytest.raises(TypeError, match=r"audit details\['failed'\] has keys of types"):
            audit.append(
                session, KEY, actor="amina", action="viewed",
                details={"failed": {1: "x", "F2": "y"}},
            )  # fmt: skip
        # Keys of one type are kept (as text, JSON's keys), as before.
        entry = audit.append(
            session, KEY, actor="amina", action="viewed", details={"failed": {1: "x", 2: "y"}}
        )
        assert entry.details == {"failed": {"1": "x", "2": "y"}}
    assert audit_problems(sessions) == []
