"""`audit verify` reports any tampered column of the log or the head and walks on: SQLite
keeps bytes that are not UTF-8 in a text column (its driver failed the whole walk) and a
blob where a hash belongs; both databases keep a hash with non-ASCII text (compare_digest
refused it). `seal_head` leaves such a last entry unsealed instead of failing."""

from __future__ import annotations

import pytest
from sqlalchemy import update

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

CHANGED = "content was changed after it was written"


@pytest.mark.parametrize("column", ["at", "actor", "action", "target", "prev_hash", "hash"])
def test_a_text_column_that_is_not_utf8_is_reported_and_the_walk_goes_on(sqlite_engine, column):
    sessions = audit_sessions(sqlite_engine)
    append_entries(sessions, 4)
    tamper(
        sessions,
        f"UPDATE audit_log SET {column} = {NOT_UTF8} WHERE seq = 2",
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 4",  # the walk still sees it
    )
    problems = audit_problems(sessions)
    expected = [f"entry 2: column {column} {UNREADABLE}"]
    if column == "hash":  # entry 3 still links to the hash entry 2 had
        expected.append("entry 3: does not follow the entry before it")
    assert problems == [*expected, f"entry 4: {CHANGED}"]


def test_an_unreadable_hash_at_the_head_is_not_blamed_on_the_head(sqlite_engine):
    sessions = audit_sessions(sqlite_engine)
    append_entries(sessions, 3)
    tamper(sessions, f"UPDATE audit_log SET hash = {NOT_UTF8} WHERE seq = 3")
    assert audit_problems(sessions) == [f"entry 3: column hash {UNREADABLE}"]


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("prev_hash", ["entry 2: does not follow the entry before it", f"entry 2: {CHANGED}"]),
        ("hash", [f"entry 2: {CHANGED}", "entry 3: does not follow the entry before it"]),
    ],
)
def test_a_blob_in_a_link_column_is_reported_as_a_change(sqlite_engine, column, expected):
    # A blob came back as bytes: prev_hash.encode() and compare_digest(str, bytes) failed.
    sessions = audit_sessions(sqlite_engine)
    append_entries(sessions, 3)
    tamper(sessions, f"UPDATE audit_log SET {column} = X'0102' WHERE seq = 2")
    assert audit_problems(sessions) == expected


def test_non_ascii_text_in_a_hash_or_the_heads_mac_is_reported_on_both_databases(engine):
    sessions = audit_sessions(engine)
    append_entries(sessions, 3)
    with session_scope(sessions) as session:
        drop_audit_guards(session)
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(hash="é" * 64))
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(mac="ü" * 64))
    assert audit_problems(sessions) == [
        f"entry 2: {CHANGED}",
        "entry 3: does not follow the entry before it",
        "the head (entry 3) has a MAC that does not match it: the head was changed or made "
        "up without the key",
    ]


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("seq = 'abc'", "the head's column seq cannot be read (not a whole number: 'abc')"),
        (f"seq = {NOT_UTF8}", f"the head's column seq {UNREADABLE}"),
        (f"hash = {NOT_UTF8}", f"the head's column hash {UNREADABLE}"),
        (f"mac = {NOT_UTF8}", f"the head's column mac {UNREADABLE}"),
    ],
)
def test_a_head_column_that_cannot_be_read_is_reported(sqlite_engine, statement, problem):
    sessions = audit_sessions(sqlite_engine)
    append_entries(sessions, 2)
    tamper(sessions, f"UPDATE audit_head SET {statement}")
    assert audit_problems(sessions) == [problem]


def test_seal_head_leaves_a_head_whose_last_entry_cannot_be_read_unsealed(sqlite_engine):
    sessions = audit_sessions(sqlite_engine)
    append_entries(sessions, 2)
    tamper(
        sessions,
        "UPDATE audit_head SET mac = NULL",
        f"UPDATE audit_log SET action = {NOT_UTF8} WHERE seq = 2",
    )
    with session_scope(sessions) as session:
        assert not audit.seal_head(session, KEY)
    assert audit_problems(sessions) == [
        f"entry 2: column action {UNREADABLE}",
        "the head (entry 2) carries no MAC: it was written without the key, or before "
        "migration 0003 with nothing appended since (the next append, or the next command "
        "that migrates the database, seals it)",
    ]
