"""Room corrections checked against their audit entries: the hash-chained log pins what each
correction said (`photo_room_corrected`: the photo, its family, the note before and after,
whether it was already so, who sent it, and the reason's words through `reason_sha256`), the
room_corrections table alone does not. Reported beside the decisions' problems by the same
checks (serving.decision_check.verify_with_decisions): a correction changed, deleted or added
outside the service.

Entries written before corrections were kept in a table hold the reason in words and no
`correction_id`: nothing of the table is theirs, and they are not checked here (the chain
pins them whole)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from serving.audit_read import StoredEntry
from serving.audited_rows import AuditedTable, audited_row_problems, entry_details
from serving.db.models import RoomCorrection
from serving.decisions import reason_sha256

ACTION = "photo_room_corrected"
# What the entry says as the correction's row does.
_PINNED = ("family_id", "previous_room_hint", "room_hint")


def room_correction_problems(session: Session) -> list[str]:
    """How the room_corrections table differs from the `photo_room_corrected` entries that
    name a row (`correction_id`): a correction whose photo, family, notes, unchanged mark,
    sender (the entry's actor) or reason's words are not the entry's, one deleted, one no
    entry records."""
    return audited_row_problems(session, ROOM_CORRECTIONS)


def _correction_id(entry: StoredEntry) -> int | None:
    """The row an entry records, told by its details even where another of its columns
    cannot be read; None for an entry of before the table (no `correction_id`) or one whose
    details cannot be read."""
    if not isinstance(entry.details, dict):
        return None
    number = entry.details.get("correction_id")
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def _changed(correction: RoomCorrection, username: str | None, entry: StoredEntry) -> list[str]:
    """What of `correction` (sent by `username`) differs from `entry`."""
    details = entry_details(entry)
    changed = [name for name in _PINNED if details.get(name) != getattr(correction, name)]
    if entry.link is None or entry.link.target != f"photo:{correction.photo_id}":
        changed.append("photo_id")
    if details.get("unchanged", False) is not correction.unchanged:
        changed.append("unchanged")
    if entry.link is None or username != entry.link.actor:  # usernames never change
        changed.append("corrected_by")
    if details.get("reason_sha256") != reason_sha256(correction.reason):
        changed.append("reason")
    return changed


ROOM_CORRECTIONS = AuditedTable(
    action=ACTION, model=RoomCorrection, sender=RoomCorrection.corrected_by,
    row_id=_correction_id, changed=_changed, row="room correction", rows="room corrections",
)  # fmt: skip
