"""Decisions checked against their audit entries: the hash-chained log pins what each
decision said and on what (`decision_recorded`: family, assessment, assessed level, kind,
decided level, reason code, the reason's words through `reason_sha256`, who decided, the
groups the reports count it in, and the `seen_decision_id` the reports tell an old client's
resend by), the decisions table alone does not. `shanyraq audit verify`, the API's
/audit/verify and the audit page report a decision changed, deleted or added outside the
service beside the chain's own problems (`verify_with_decisions`), and a room correction so
changed (serving.room_check)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving import audit
from serving.audit_read import StoredEntry, entries_query, read_entry
from serving.db.models import AuditEntry, Decision, User
from serving.decisions import reason_sha256

BATCH = 500  # audit entries read at a time
# What the entry says as the decision does: a decision moved onto another family or
# assessment, or given another assessed level, is as changed as one with another level.
_PINNED = ("family_id", "assessment_id", "model_level", "kind", "decided_level", "reason_code")
# Pinned only by the entries written since the field was added (None in one: sent without it).
_PINNED_SINCE_ADDED = ("seen_decision_id", "region", "settlement", "head_gender")


def decision_problems(session: Session) -> list[str]:
    """How the decisions table differs from the `decision_recorded` entries: a decision whose
    family, assessment, levels, kind, reason code, words, member (the entry's actor), groups
    or seen_decision_id are not the entry's (entries written before `reason_sha256`, the
    groups or `seen_decision_id` existed: not those), one deleted, one no entry records."""
    problems: list[str] = []
    audited: set[int] = set()
    # The decisions first: each was committed with its entry, so the entries read next hold
    # them all (one recorded meanwhile is not taken for one added outside the service).
    decided = list(session.execute(select(Decision.id).order_by(Decision.id)).scalars())
    for entries in audited_batches(session, "decision_recorded"):
        ids = {_decision_id(e.link.target): e for e in entries if e.link is not None}
        found = {
            d.id: (d, username)
            for d, username in session.execute(
                select(Decision, User.username)
                .outerjoin(User, User.id == Decision.decided_by)
                .where(Decision.id.in_([i for i in ids if i is not None]))
            ).all()
        }
        for decision_id, entry in ids.items():
            if decision_id is None:
                continue
            audited.add(decision_id)
            if decision_id not in found:
                problems.append(f"decision {decision_id} (audit entry {entry.seq}) was deleted")
            elif changed := _changed(
                *found[decision_id],
                entry.details if isinstance(entry.details, dict) else {},
                actor=entry.link.actor if entry.link is not None else None,
            ):
                problems.append(
                    f"decision {decision_id}: its {', '.join(changed)} differ from audit entry "
                    f"{entry.seq}: changed after it was recorded"
                )
    unaudited = [i for i in decided if i not in audited]
    if unaudited:
        problems.append(
            f"decisions no audit entry records (added outside the service): {ids_shown(unaudited)}"
        )
    return problems


def audited_batches(session: Session, action: str) -> Iterator[list[StoredEntry]]:
    """The `action` entries, oldest first, BATCH at a time, those whose columns could all be
    read (`link`). Read as stored (serving.audit_read), as the chain's walk reads them: an
    entry it reports as unreadable is left to that report, not a crash here."""
    after = 0
    while True:
        rows = session.execute(
            entries_query(session)
            .where(AuditEntry.action == action, AuditEntry.seq > after)
            .order_by(AuditEntry.seq)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        after = rows[-1].seq
        yield [e for e in map(read_entry, rows) if e.link is not None]


def ids_shown(ids: list[int]) -> str:
    """Row ids for a problem's line: the first ten, and "..." for more."""
    return ", ".join(map(str, ids[:10])) + (" ..." if len(ids) > 10 else "")


def _decision_id(target: str | None) -> int | None:
    kind, _, number = (target or "").partition(":")
    return int(number) if kind == "decision" and number.isdigit() else None


def _changed(
    decision: Decision, username: str | None, details: dict[str, Any], *, actor: str | None
) -> list[str]:
    """What of `decision` (made by `username`) differs from its entry's `details`, whose
    member is the entry's `actor`."""
    changed = [name for name in _PINNED if details.get(name) != getattr(decision, name)]
    if username != actor:  # usernames never change: another member was put in
        changed.append("decided_by")
    changed += [
        name
        for name in _PINNED_SINCE_ADDED
        if name in details and details[name] != getattr(decision, name)
    ]
    said = details.get("reason_sha256")
    if said is not None and said != reason_sha256(decision.reason):
        changed.append("reason")
    return changed


def verify_with_decisions(
    session: Session, key: bytes, *, anchor: Path | None = None
) -> audit.VerifyResult:
    """`audit.verify`, with `decision_problems` and the room corrections' problems
    (serving.room_check) among its problems."""
    # Imported here: serving.room_check reads the entries with this module's audited_batches.
    from serving.room_check import room_correction_problems

    result = audit.verify(session, key, anchor=anchor)
    problems = [
        *result.problems,
        *decision_problems(session),
        *room_correction_problems(session),
    ]
    return audit.VerifyResult(
        ok=not problems, entries=result.entries, problems=problems, notes=result.notes
    )
