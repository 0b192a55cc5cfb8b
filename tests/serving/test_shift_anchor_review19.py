"""Review 19: the audit anchor after a crash left half a line, a session closed without
commit, an anchor others may write to; a promotion's sign means over scores of models
that gave different signs."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, delete, select, update

from serving import audit
from serving.audit_anchor import anchor_sessions
from serving.db.models import AuditEntry, AuditHead
from serving.db.session import session_scope
from tests.serving.audit_helpers import (
    KEY,
    append_entries,
    audit_problems,
    audit_sessions,
    drop_audit_guards,
)

# --- the audit anchor --------------------------------------------------------------------


def _cut_tail_with_key(engine: Engine, seq: int) -> None:
    """With the key and the database: entries after `seq` deleted, the head re-MACed at
    `seq`, so only the anchor can tell."""
    with engine.begin() as connection:
        drop_audit_guards(connection)
        connection.execute(delete(AuditEntry).where(AuditEntry.seq > seq))
        kept = connection.execute(select(AuditEntry.hash).where(AuditEntry.seq == seq)).scalar_one()
        mac = audit.head_mac(KEY, seq=seq, hash=kept)
        connection.execute(update(AuditHead).values(seq=seq, hash=kept, mac=mac))


def test_half_a_line_left_by_a_crash_does_not_swallow_the_next_head(engine, tmp_path):
    """The next head's line ran on from the half line, was unreadable and skipped: the
    entry it anchored could then be cut from the log's end unseen."""
    anchor = tmp_path / "anchor.log"
    sessions = audit_sessions(engine, anchor)
    append_entries(sessions, 2)
    with anchor.open("ab") as handle:
        handle.write(b"3 0a1b")  # what a crash mid-write leaves
    append_entries(sessions, 1)  # entry 3, the rolled-back write's seq
    assert audit_problems(sessions) == []  # the half line is no alarm
    _cut_tail_with_key(engine, 2)
    assert audit_problems(sessions) == [
        "the log ends at seq 2 but the anchor saw seq 3: entries were removed from its end"
    ]


def test_a_blank_line_is_not_reported_unreadable(engine, tmp_path, caplog):
    anchor = tmp_path / "anchor.log"
    sessions = audit_sessions(engine, anchor)
    append_entries(sessions, 1)
    with anchor.open("ab") as handle:
        handle.write(b"2 half")
    append_entries(sessions, 1)
    with caplog.at_level(logging.WARNING, logger="serving.audit_anchor"):
        assert audit_problems(sessions) == []
    assert "skipped 1 unreadable anchor line(s)" in caplog.text  # the half line alone


def test_a_session_closed_without_commit_anchors_no_head(engine, tmp_path):
    """Its pending head outlived the close, and its next commit, with no append of its own,
    anchored a hash the log never had: a false alarm once the seq was reused."""
    anchor = tmp_path / "anchor.log"
    sessions = audit_sessions(engine, anchor)
    session = sessions()
    audit.append(session, KEY, actor="amina", action="viewed")
    session.close()  # no commit: the append is gone
    session.execute(select(AuditEntry.seq)).all()
    session.commit()
    session.close()
    assert not anchor.exists() or anchor.read_bytes() == b""
    append_entries(sessions, 1)  # seq 1 again, another hash
    assert audit_problems(sessions) == []
    assert len(anchor.read_text().splitlines()) == 1


def test_committed_heads_are_still_anchored_after_the_close_rule(engine, tmp_path):
    anchor = tmp_path / "anchor.log"
    sessions = audit_sessions(engine, anchor)
    with session_scope(sessions) as session:
        audit.append(session, KEY, actor="amina", action="viewed")
        audit.append(session, KEY, actor="amina", action="viewed")
    with session_scope(sessions) as session:
        head = session.execute(select(AuditHead.seq, AuditHead.hash)).one()
    assert anchor.read_text().splitlines() == [f"2 {head.hash}"] and head.seq == 2


@pytest.mark.parametrize("how", ["file_mode", "folder_mode", "not_a_file"])
def test_an_anchor_others_may_write_to_is_warned_about(engine, tmp_path, caplog, how):
    folder = tmp_path / "anchors"
    folder.mkdir(mode=0o700)
    anchor = folder / "anchor.log"
    if how == "not_a_file":
        anchor.symlink_to("/dev/null")
    else:
        anchor.write_bytes(b"")
        anchor.chmod(0o600)
        (anchor if how == "file_mode" else folder).chmod(0o666 if how == "file_mode" else 0o777)
    with caplog.at_level(logging.WARNING, logger="serving.audit_anchor"):
        audit_sessions(engine, anchor)
    assert f"audit anchor {anchor}" in caplog.text and "cannot show" in caplog.text


def test_a_private_anchor_and_a_link_to_one_raise_no_warning(engine, tmp_path, caplog):
    folder = tmp_path / "anchors"
    folder.mkdir(mode=0o700)
    target = folder / "anchor.log"
    target.write_bytes(b"")
    target.chmod(0o600)
    link = tmp_path / "link.log"
    link.symlink_to(target)
    with caplog.at_level(logging.WARNING, logger="serving.audit_anchor"):
        audit_sessions(engine, target)
        anchor_sessions(audit_sessions(engine), link)
    assert "audit anchor" not in caplog.text


# --- a promotion's score shift -----------------------------------------------------------


def _score(signs: dict[str, float]) -> dict[str, Any]:
    from vision.score import PhotoScore

    return PhotoScore(
        photo_sha256="0" * 64, model_version="m", room={"kitchen": 0.9, "bedroom": 0.1},
        condition={1: 0.1, 2: 0.1, 3: 0.6, 4: 0.1, 5: 0.1}, signs=signs,
        embedding=np.zeros(0, dtype=np.float32),
    ).to_dict()  # fmt: skip


def test_a_sign_mean_is_over_the_photos_that_give_the_sign():
    """Current scores from an older model without the sign `mould` were counted as giving 0:
    its mean read 0.2 where every photo that gave it said 0.6."""
    from serving.score_shift import ShiftTally

    tally = ShiftTally()
    tally.add(_score({"crack": 0.4}), _score({"crack": 0.4, "mould": 0.6}))
    tally.add(_score({"crack": 0.2}), _score({"crack": 0.2, "mould": 0.6}))
    tally.add(_score({"crack": 0.0, "mould": 0.6}), _score({"crack": 0.0, "mould": 0.6}))
    shift = tally.result()
    assert shift.old.mean_signs == pytest.approx({"crack": 0.2, "mould": 0.6})
    assert shift.new.mean_signs == pytest.approx({"crack": 0.2, "mould": 0.6})
