"""`audit verify` given another signing key than the one that wrote the log (a service on
SHANYRAQ_SERVING__SECRET_KEY, a command run on the data folder's key file): it said every
entry's content was changed and the head was made up, as if the whole log were forged."""

from __future__ import annotations

from sqlalchemy import select

from serving import audit
from serving.db.models import AuditEntry
from serving.db.session import session_scope
from tests.serving.audit_helpers import KEY, append_entries, audit_sessions, drop_audit_guards

OTHER_KEY = b"not-the-key-that-wrote-the-log-0123"


def _verify(sessions, key: bytes) -> audit.VerifyResult:
    with session_scope(sessions) as session:
        return audit.verify(session, key)


def test_another_key_is_named_once_not_every_entry_called_changed(engine):
    sessions = audit_sessions(engine)
    append_entries(sessions, 4)
    result = _verify(sessions, OTHER_KEY)
    assert not result.ok and result.entries == 4
    assert len(result.problems) == 1, result.problems
    (problem,) = result.problems
    assert problem.startswith(
        "not one of 4 entries nor the head's MAC holds under this signing key: it is not the "
        "key that wrote the log"
    ), problem
    assert "SHANYRAQ_SERVING__SECRET_KEY" in problem
    assert "content was changed" not in problem
    assert _verify(sessions, KEY).ok  # the right key: intact


def test_another_key_still_reports_what_the_key_does_not_explain(engine):
    sessions = audit_sessions(engine)
    append_entries(sessions, 4)
    with session_scope(sessions) as session:
        drop_audit_guards(session)
        session.delete(session.get_one(AuditEntry, 2))
    problems = _verify(sessions, OTHER_KEY).problems
    assert problems[0].startswith("not one of 3 entries nor the head's MAC holds"), problems
    assert problems[1:] == [
        "entries 2..2 are missing (deleted)",
        "entry 3: does not follow the entry before it",
    ]


def test_every_entry_edited_under_the_right_key_is_still_named_entry_by_entry(engine):
    # The head's MAC holds under the key given, so the key is the right one: each edit stands.
    sessions = audit_sessions(engine)
    append_entries(sessions, 3)
    with session_scope(sessions) as session:
        drop_audit_guards(session)
        for entry in session.execute(select(AuditEntry)).scalars():
            entry.actor = "mallory"
    assert _verify(sessions, KEY).problems == [
        f"entry {seq}: content was changed after it was written" for seq in (1, 2, 3)
    ]
