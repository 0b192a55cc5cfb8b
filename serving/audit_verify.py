"""The audit chain checked end to end (`verify`): every link walked, the head, and the anchor
file's lines. serving.audit, which callers use (`audit.verify`, `audit.VerifyResult`), says
what it detects and what it cannot."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from serving.audit_anchor import ANCHOR_INFO_KEY, anchor_note, anchor_problems, unchecked_anchor
from serving.audit_chain import GENESIS, Walk, mac_holds, walk
from serving.audit_read import StoredHead, read_head


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    problems: list[str]
    # What the check could not do, which is no problem: the anchor file missing or empty.
    notes: list[str] = field(default_factory=list)


def verify(
    session: Session, key: bytes, *, batch: int = 1000, anchor: Path | None = None
) -> VerifyResult:
    """Walk the whole chain; report every broken link and gap, a mismatched or unsealed head,
    and entries the anchor file saw that the log no longer has.

    `anchor` defaults to the session's (`anchor_sessions`). The head and the anchor's length
    are read before the walk, so entries appended while it runs are never taken for
    tampering. That needs a session that sees every commit made before verify starts: a
    write session, or any session on PostgreSQL's default READ COMMITTED, not a snapshot
    opened earlier.

    A missing or empty anchor file is no problem (a restore moves it aside: README), but the
    checks only it makes are skipped, which the result's `notes` say (`anchor_note`).
    """
    anchor = anchor if anchor is not None else session.info.get(ANCHOR_INFO_KEY)
    unchecked = unchecked_anchor(anchor)  # first: a file made while this runs covers nothing
    # The anchor's length first: each line is written after its entry commits, so every
    # line counted here is seen by the walk. Taken after the first read, it could count a
    # line whose entry committed after a SQLite read snapshot began, and report it as cut.
    anchored_bytes = anchor.stat().st_size if anchor is not None and anchor.exists() else 0
    head, head_unreadable = read_head(session)
    walked = walk(session, key, batch=batch, head_seq=head.seq if head else None)
    other_key = bool(walked.changed) and not walked.held and not mac_holds(head, key)
    problems = [p for p in walked.problems if not (other_key and p in walked.changed)]
    problems += head_unreadable or _head_problems(head, key, walked, other_key=other_key)
    if other_key:
        problems.insert(0, _other_key_problem(len(walked.changed), head))
    if head is not None and head.seq < walked.last_seq:
        # An append moves the head in the commit that adds its entry, so a head read again
        # now is at or past every entry walked, unless it was put back or changed.
        now, _ = read_head(session)
        if now is not None and now.seq < walked.last_seq:
            problems.append(
                f"the head records entry {now.seq} but the log goes on to entry "
                f"{walked.last_seq}: an old head was put back or the head was changed (appends "
                "would collide with the entries after it)"
            )
    if anchor is not None and anchored_bytes:
        problems += anchor_problems(
            session, anchor, size=anchored_bytes, last_seq=walked.last_seq, batch=batch
        )
    note = anchor_note(unchecked, entries=walked.entries)
    return VerifyResult(
        ok=not problems, entries=walked.entries, problems=problems, notes=[note] if note else []
    )


def _other_key_problem(checked: int, head: StoredHead | None) -> str:
    mac = " nor the head's MAC" if head is not None and head.mac is not None else ""
    return (
        f"not one of {checked} entr{'y' if checked == 1 else 'ies'}{mac} holds under this "
        "signing key: it is not the key that wrote the log, or the whole log was rewritten "
        "without it. Verify with the service's key (secret_key in serving.yaml or "
        "SHANYRAQ_SERVING__SECRET_KEY, else the data folder's secret_key file); if that was "
        "the key given, the log was rewritten"
    )


def _head_problems(
    head: StoredHead | None, key: bytes, walked: Walk, *, other_key: bool
) -> list[str]:
    """The head's problems; `other_key`: a MAC that does not hold is said as that already."""
    if head is None:
        return ["the audit head row is missing"]
    problems = []
    if head.seq > walked.last_seq:
        problems.append(
            f"the log ends at entry {walked.last_seq} but the head records entry {head.seq}: "
            "entries at the end were deleted or the head was changed"
        )
    elif walked.hash_at_head is not None and head.hash != walked.hash_at_head:
        # Compared with the entry at the head's own seq, not the last one: the head is read
        # before the walk, so entries appended meanwhile may follow it.
        problems.append(
            f"the head records entry {head.seq} with another hash than the log's entry "
            f"{head.seq}: the head was changed"
        )
    if head.mac is None:
        if (head.seq, head.hash) != (0, GENESIS):
            problems.append(
                f"the head (entry {head.seq}) carries no MAC: it was written without the "
                "key, or before migration 0003 with nothing appended since (the next "
                "append, or the next command that migrates the database, seals it)"
            )
    elif not other_key and not mac_holds(head, key):
        problems.append(
            f"the head (entry {head.seq}) has a MAC that does not match it: the head was "
            "changed or made up without the key"
        )
    return problems
