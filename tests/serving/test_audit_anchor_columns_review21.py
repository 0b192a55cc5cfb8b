"""The anchor check and `seal_head` read the audit columns as stored: on SQLite a hash or a
head column that is not UTF-8 made the driver fail, so `audit verify` (every production
session has an anchor) and every migrating command (`seal_head`, `serve` included) crashed."""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from serving import audit
from serving.db.models import AuditEntry, AuditHead
from serving.db.session import session_scope
from tests.serving.audit_helpers import (
    KEY,
    NOT_UTF8,
    UNREADABLE,
    append_entries,
    audit_problems,
    audit_sessions,
    drop_audit_guards,
    tamper,
)

NOT_FOLLOWING = "entry 3: does not follow the entry before it"
ANCHOR_DIFFERS = (
    "1 anchored entry differ from the log (it was rewritten from there on, or restored "
    "from an older copy): anchor line 2: entry 2 had hash "
)
NO_MAC = (
    "the head (entry 2) carries no MAC: it was written without the key, or before migration "
    "0003 with nothing appended since (the next append, or the next command that migrates "
    "the database, seals it)"
)


def _hash_of(sessions, seq: int) -> str:
    with session_scope(sessions) as session:
        return session.execute(select(AuditEntry.hash).where(AuditEntry.seq == seq)).scalar_one()


def test_an_anchored_entry_whose_hash_is_not_utf8_is_reported(sqlite_engine, tmp_path):
    sessions = audit_sessions(sqlite_engine, tmp_path / "anchor")
    append_entries(sessions, 3)
    anchored = _hash_of(sessions, 2)
    tamper(sessions, f"UPDATE audit_log SET hash = {NOT_UTF8} WHERE seq = 2")
    assert audit_problems(sessions) == [
        f"entry 2: column hash {UNREADABLE}",
        NOT_FOLLOWING,
        f"{ANCHOR_DIFFERS}{anchored[:12]}…, the log's hash {UNREADABLE}",
    ]


def test_an_anchored_entry_whose_hash_is_empty_is_not_called_missing(engine, tmp_path):
    sessions = audit_sessions(engine, tmp_path / "anchor")
    append_entries(sessions, 3)
    anchored = _hash_of(sessions, 2)
    with session_scope(sessions) as session:
        drop_audit_guards(session)
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(hash=""))
    problems = audit_problems(sessions)
    assert problems[-1] == f"{ANCHOR_DIFFERS}{anchored[:12]}…, the log has ''"


def test_an_anchored_hash_with_control_characters_is_shown_escaped(engine, tmp_path):
    # Text from the database went to the terminal as it was: ESC [2J clears the screen.
    sessions = audit_sessions(engine, tmp_path / "anchor")
    append_entries(sessions, 3)
    anchored = _hash_of(sessions, 2)
    with session_scope(sessions) as session:
        drop_audit_guards(session)
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(hash="\x1b[2J"))
    problems = audit_problems(sessions)
    assert problems[-1] == f"{ANCHOR_DIFFERS}{anchored[:12]}…, the log has '\\x1b[2J'"


def test_seal_head_leaves_a_head_that_cannot_be_read_unsealed(sqlite_engine, caplog):
    sessions = audit_sessions(sqlite_engine)
    append_entries(sessions, 2)
    tamper(sessions, f"UPDATE audit_head SET mac = NULL, hash = {NOT_UTF8}")
    with session_scope(sessions) as session, caplog.at_level(logging.WARNING):
        assert not audit.seal_head(session, KEY)
    assert f"the head's column hash {UNREADABLE}" in caplog.text
    assert "left unsealed: run `shanyraq audit verify`" in caplog.text
    assert audit_problems(sessions) == [f"the head's column hash {UNREADABLE}"]


def test_seal_head_reports_a_mac_that_cannot_be_read(sqlite_engine, caplog):
    sessions = audit_sessions(sqlite_engine)
    append_entries(sessions, 2)
    tamper(sessions, f"UPDATE audit_head SET mac = {NOT_UTF8}")
    with session_scope(sessions) as session, caplog.at_level(logging.WARNING):
        assert not audit.seal_head(session, KEY)
    assert f"the head's column mac {UNREADABLE}" in caplog.text
    assert audit_problems(sessions) == [f"the head's column mac {UNREADABLE}"]


def test_seal_head_still_seals_a_readable_head_and_verify_passes(engine):
    sessions = audit_sessions(engine)
    append_entries(sessions, 2)
    with session_scope(sessions) as session:
        drop_audit_guards(session)
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(mac=None))
    assert audit_problems(sessions) == [NO_MAC]
    with session_scope(sessions) as session:
        assert audit.seal_head(session, KEY)
        assert not audit.seal_head(session, KEY)  # the same session sees its own seal
    assert audit_problems(sessions) == []
