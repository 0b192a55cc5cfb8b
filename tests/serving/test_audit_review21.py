"""`audit verify` against a live log: no false alarm from a SQLite read snapshot taken while
appends go on, and a head put back behind the log's end is reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, update
from sqlalchemy.exc import IntegrityError

from serving import audit
from serving.db.models import AuditHead
from serving.db.session import (
    make_engine,
    make_read_engine,
    make_read_session_factory,
    session_scope,
)
from serving.migrations import upgrade
from tests.serving.audit_helpers import KEY, append_entries, audit_problems, audit_sessions


def _verify_with_appends_after_the_head_is_read(
    engine: Engine, anchor: Path, n: int
) -> audit.VerifyResult:
    """`verify` on a read session, as `shanyraq audit verify` runs it, while another session
    appends `n` entries (and anchors them) right after verify first reads the head."""
    writer = audit_sessions(engine, anchor)
    reads = make_read_engine(engine)
    fired: list[str] = []

    def append_now(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not fired and "audit_head" in statement:
            fired.append(statement)
            append_entries(writer, n)

    event.listen(reads, "after_cursor_execute", append_now)
    try:
        with make_read_session_factory(reads)() as session:
            result = audit.verify(session, KEY, anchor=anchor)
    finally:
        event.remove(reads, "after_cursor_execute", append_now)
        if reads is not engine:
            reads.dispose()
    assert fired, "the hook never ran: verify no longer reads the head"
    return result


def test_an_append_committed_while_verify_starts_is_not_taken_for_a_cut_tail(tmp_path):
    # The reported defect is SQLite's: its read snapshot begins at verify's first read, and
    # the anchor's length was taken after it, so it counted lines the walk could not see.
    engine = make_engine(f"sqlite:///{tmp_path / 'service.db'}")
    upgrade(str(engine.url))
    anchor = tmp_path / "anchor.log"
    append_entries(audit_sessions(engine, anchor), 3)
    try:
        result = _verify_with_appends_after_the_head_is_read(engine, anchor, 1)
    finally:
        engine.dispose()
    assert result.problems == [] and result.ok
    assert len(anchor.read_text().splitlines()) == 4  # the line was written meanwhile


def test_entries_appended_during_the_walk_are_not_taken_for_a_head_put_back(engine, tmp_path):
    # PostgreSQL's READ COMMITTED walk sees them; the head read again is past them.
    anchor = tmp_path / "anchor.log"
    append_entries(audit_sessions(engine, anchor), 2)
    result = _verify_with_appends_after_the_head_is_read(engine, anchor, 3)
    assert result.problems == [] and result.ok


@pytest.mark.parametrize("put_back", ["saved", "genesis"])
def test_a_head_put_back_behind_the_log_s_end_is_reported(engine, tmp_path, put_back):
    sessions = audit_sessions(engine, tmp_path / "anchor.log")
    append_entries(sessions, 2)
    with session_scope(sessions) as session:
        saved = session.execute(select(AuditHead.seq, AuditHead.hash, AuditHead.mac)).one()
    append_entries(sessions, 3)
    assert audit_problems(sessions) == []
    # Needs no key and no dropped trigger: a head row saved earlier, or the genesis one.
    old = (
        {"seq": saved.seq, "hash": saved.hash, "mac": saved.mac}
        if put_back == "saved"
        else {"seq": 0, "hash": audit.GENESIS, "mac": None}
    )
    with session_scope(sessions) as session:
        session.execute(update(AuditHead).values(**old))
    assert audit_problems(sessions) == [
        f"the head records entry {old['seq']} but the log goes on to entry 5: an old head was "
        "put back or the head was changed (appends would collide with the entries after it)"
    ]
    with pytest.raises(IntegrityError):  # why it matters: every audited action now fails
        append_entries(sessions, 1)
