"""Decisions checked against their audit entries: the hash-chained log pins what each
decision said and on what (`decision_recorded`: family, assessment, assessed level, kind,
decided level, reason code, the reason's words through `reason_sha256`, who decided, the
groups the reports count it in, and the `seen_decision_id` the reports tell an old client's
resend by), the decisions table alone does not. `shanyraq audit verify`, the API's
/audit/verify and the audit page report a decision changed, deleted or added outside the
service beside the chain's own problems (`verify_with_decisions`), and a room correction so
changed (serving.room_check); both tables are walked alike (serving.audited_rows)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from serving import audit
from serving.audit_read import StoredEntry
from serving.audited_rows import AuditedTable, audited_row_problems, entry_details
from serving.db.models import Decision
from serving.decisions import reason_sha256
from serving.room_check import room_correction_problems

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
    return audited_row_problems(session, DECISIONS)


def _decision_id(entry: StoredEntry) -> int | None:
    """The decision an entry records (its target "decision:N"), told by its target even
    where another of its columns cannot be read."""
    kind, _, number = (entry.target or "").partition(":")
    return int(number) if kind == "decision" and number.isdigit() else None


def _changed(decision: Decision, username: str | None, entry: StoredEntry) -> list[str]:
    """What of `decision` (made by `username`) differs from its entry, whose member is the
    entry's actor."""
    details = entry_details(entry)
    changed = [name for name in _PINNED if details.get(name) != getattr(decision, name)]
    actor = entry.link.actor if entry.link is not None else None
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


DECISIONS = AuditedTable(
    action="decision_recorded", model=Decision, sender=Decision.decided_by,
    row_id=_decision_id, changed=_changed, row="decision", rows="decisions",
)  # fmt: skip


def verify_with_decisions(
    session: Session, key: bytes, *, anchor: Path | None = None
) -> audit.VerifyResult:
    """`audit.verify`, with `decision_problems` and the room corrections' problems
    (serving.room_check) among its problems."""
    result = audit.verify(session, key, anchor=anchor)
    problems = [
        *result.problems,
        *decision_problems(session),
        *room_correction_problems(session),
    ]
    return audit.VerifyResult(
        ok=not problems, entries=result.entries, problems=problems, notes=result.notes
    )
