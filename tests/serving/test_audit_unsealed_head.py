"""An append that finds a head past genesis with no MAC: it sealed the head as it found it, so
a tail cut without the key, with the head rolled back and its MAC cleared, went unseen by
`audit verify` after the next append."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from serving import audit
from serving.db.models import AuditEntry, AuditHead
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.migrations import upgrade
from tests.serving.audit_helpers import (
    KEY,
    append_entries,
    audit_problems,
    audit_sessions,
    drop_audit_guards,
    log_before_0003,
)


def _head(session: Session) -> AuditHead:
    return session.execute(select(AuditHead)).scalar_one()


def _actions(sessions: sessionmaker[Session]) -> list[str]:
    with session_scope(sessions) as session:
        return list(session.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars())


def _cut_to(sessions: sessionmaker[Session], seq: int) -> str:
    """Without the key: delete the entries after `seq`, roll the head back to entry `seq` and
    clear its MAC, as a head from before migration 0003 has none. Returns entry `seq`'s hash."""
    with session_scope(sessions) as session:
        drop_audit_guards(session)
        kept = session.get_one(AuditEntry, seq)
        session.execute(delete(AuditEntry).where(AuditEntry.seq > seq))
        head = _head(session)
        head.seq, head.hash, head.mac = kept.seq, kept.hash, None
        return kept.hash


def test_a_cut_tail_with_the_head_s_mac_cleared_is_reported_after_later_appends(engine, caplog):
    sessions = audit_sessions(engine)
    append_entries(sessions, 5)
    kept_hash = _cut_to(sessions, 3)
    with caplog.at_level(logging.ERROR, logger="serving.audit"):
        append_entries(sessions, 1)
    assert any("the audit head (entry 3) carries no MAC" in r.message for r in caplog.records)
    append_entries(sessions, 1)

    assert audit_problems(sessions) == [
        "the head (entry 3) carried no MAC when entry 4 was appended: it was written before "
        "migration 0003 and not sealed since, or its MAC was removed (entries after it may have "
        "been cut). The log went on from that head; entry 4's details keep what it was"
    ]
    # Recorded once, before the append's own entry, and the head is sealed after it.
    assert _actions(sessions) == ["viewed"] * 3 + ["audit_head_unsealed"] + ["viewed"] * 2
    with session_scope(sessions) as session:
        recorded = session.get_one(AuditEntry, 4)
        assert recorded.actor is None and recorded.target is None
        assert recorded.details == {"head_seq": 3, "head_hash": kept_hash, "head_mac": None}
        assert session.get_one(AuditEntry, 5).details == {"i": 0}
        head = _head(session)
        assert head.mac == audit.head_mac(KEY, seq=6, hash=head.hash)


def test_the_first_append_to_a_fresh_log_records_nothing_else(engine):
    sessions = audit_sessions(engine)
    with session_scope(sessions) as session:
        head = _head(session)
        assert (head.seq, head.hash, head.mac) == (0, audit.GENESIS, None)
    append_entries(sessions, 2)
    assert _actions(sessions) == ["viewed", "viewed"]
    assert audit_problems(sessions) == []


@pytest.mark.parametrize("sealed_by", ["seal_head", "upgrade"])
def test_a_head_sealed_after_migration_0003_is_appended_to_with_nothing_else(
    database_url, sealed_by
):
    log_before_0003(database_url, KEY, 2)  # at 0002: the head has no MAC
    made = make_engine(database_url)
    try:
        sessions = make_session_factory(made)
        if sealed_by == "upgrade":  # as `serve`, create_app and the demo migrate
            upgrade(database_url, seal_with=KEY)
        else:
            upgrade(database_url)
            with session_scope(sessions) as session:
                assert audit.seal_head(session, KEY)
        append_entries(sessions, 1)
        assert _actions(sessions) == ["user_created", "user_created", "viewed"]
        assert audit_problems(sessions) == []
    finally:
        made.dispose()


def test_a_head_from_before_0003_appended_to_unsealed_is_recorded(database_url):
    # No command does this (each seals first), so an entry here means a seal was skipped.
    log_before_0003(database_url, KEY, 2)
    upgrade(database_url)  # no key: nothing sealed
    made = make_engine(database_url)
    try:
        sessions = make_session_factory(made)
        append_entries(sessions, 1)
        expected = ["user_created", "user_created", "audit_head_unsealed", "viewed"]
        assert _actions(sessions) == expected
        (problem,) = audit_problems(sessions)
        assert problem.startswith("the head (entry 2) carried no MAC when entry 3 was appended")
    finally:
        made.dispose()
