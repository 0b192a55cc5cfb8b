"""An append that finds the audit head's MAC not matching: it sealed the new head over it, so
one append later `audit verify` no longer saw that the head had been changed."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

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

OTHER_KEY = b"not-the-key-that-wrote-the-log-0123"


def _head(session: Session) -> AuditHead:
    return session.execute(select(AuditHead)).scalar_one()


def _actions(sessions: sessionmaker[Session]) -> list[str]:
    with session_scope(sessions) as session:
        return list(session.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars())


def _mismatches(problems: list[str]) -> list[str]:
    return [p for p in problems if "with a MAC that did not match it" in p]


def test_a_head_edited_without_the_key_is_still_reported_after_later_appends(engine):
    sessions = audit_sessions(engine)
    append_entries(sessions, 3)
    with session_scope(sessions) as session:
        _head(session).mac = "0" * 64
    append_entries(sessions, 2)
    problems = audit_problems(sessions)
    assert problems == [
        "entry 4: the append that wrote it found the head (at entry 3) with a MAC that did not "
        "match it: the head had been changed or made up without the key (entries after it may "
        "have been cut, or the head moved), or the log before it was written with another key. "
        "The log went on from that head; this entry's details keep what it was"
    ], problems
    # Recorded once, before the append's own entry; the head is sealed again after it.
    assert _actions(sessions) == ["viewed"] * 3 + ["audit_head_mismatch"] + ["viewed"] * 2
    with session_scope(sessions) as session:
        recorded = session.get_one(AuditEntry, 4)
        assert recorded.actor is None and recorded.target is None
        third = session.get_one(AuditEntry, 3)
        assert recorded.details == {"head_seq": 3, "head_hash": third.hash, "head_mac": "0" * 64}
        assert session.get_one(AuditEntry, 5).details == {"i": 0}


def test_a_cut_tail_with_the_old_mac_left_on_the_head_is_not_sealed_over(engine, tmp_path):
    # The attack the head's MAC is there for, without the anchor file to catch it: entries
    # deleted from the end, the head rolled back to the new last one, its MAC left as it was.
    sessions = audit_sessions(engine)
    append_entries(sessions, 5)
    with session_scope(sessions) as session:
        drop_audit_guards(session)
        kept = session.get_one(AuditEntry, 3)
        session.execute(delete(AuditEntry).where(AuditEntry.seq > 3))
        head = _head(session)
        head.seq, head.hash = kept.seq, kept.hash
    append_entries(sessions, 1)
    append_entries(sessions, 1)
    (problem,) = audit_problems(sessions)
    assert problem.startswith("entry 4: the append that wrote it found the head (at entry 3)")
    # The same through the command's check, with a decision check beside it.
    from serving.decision_check import verify_with_decisions

    with session_scope(sessions) as session:
        result = verify_with_decisions(session, KEY, anchor=tmp_path / "no-anchor")
    assert not result.ok and _mismatches(result.problems) == [problem]


def test_the_anchor_gets_the_append_s_own_head(engine, tmp_path: Path):
    anchor = tmp_path / "anchor"
    sessions = audit_sessions(engine, anchor)
    append_entries(sessions, 2)
    with session_scope(sessions) as session:
        _head(session).mac = "f" * 64
    append_entries(sessions, 1)
    assert anchor.read_text().splitlines()[-1].startswith("4 ")  # entry 3 records the head
    with session_scope(sessions) as session:
        result = audit.verify(session, KEY, anchor=anchor)
    assert len(_mismatches(result.problems)) == 1 and len(result.problems) == 1, result.problems


def test_an_append_rolled_back_leaves_the_mismatch_for_the_next(engine):
    sessions = audit_sessions(engine)
    append_entries(sessions, 2)
    with session_scope(sessions) as session:
        _head(session).mac = "0" * 64
    with sessions() as session:
        audit.append(session, KEY, actor="amina", action="viewed")
        session.rollback()
    with session_scope(sessions) as session:
        assert _head(session).mac == "0" * 64  # nothing sealed
    append_entries(sessions, 1)
    assert len(_mismatches(audit_problems(sessions))) == 1
    assert _actions(sessions) == ["viewed", "viewed", "audit_head_mismatch", "viewed"]


def test_appends_under_another_key_say_so_instead_of_sealing_over_it(engine):
    sessions = audit_sessions(engine)
    append_entries(sessions, 2)
    with session_scope(sessions) as session:
        audit.append(session, OTHER_KEY, actor="amina", action="viewed")
    with session_scope(sessions) as session:
        problems = audit.verify(session, OTHER_KEY).problems
    assert problems == [
        "entry 1: content was changed after it was written",
        "entry 2: content was changed after it was written",
        *_mismatches(problems),
    ]
    assert _mismatches(problems)[0].startswith("entry 3: ")


def test_seal_head_leaves_a_head_whose_mac_does_not_match(engine):
    sessions = audit_sessions(engine)
    append_entries(sessions, 2)
    with session_scope(sessions) as session:
        _head(session).mac = "0" * 64
    with session_scope(sessions) as session:
        assert not audit.seal_head(session, KEY)
    with session_scope(sessions) as session:
        assert _head(session).mac == "0" * 64
    assert any("has a MAC that does not match it" in p for p in audit_problems(sessions))
