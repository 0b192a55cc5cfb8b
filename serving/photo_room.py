"""Correcting a filed photo's room note: who may, the change, and its audit entry, written in
one transaction under the family's lock.

A photo's room hint is the inspector's note of which room it shows, set at upload and shown
on the family page beside the model's room. Sending the photo again does not change it
(serving.resend_hint); this does, for the inspector who uploaded the photo or an admin of its
region. The assessment never reads the note: each photo's room comes from its scores
(welfare.aggregate.room_of), and an assessment's input hash covers the family record, the
scores and the photo flags only (welfare.assess.input_hash). So a correction leaves every
assessment as current as it was, and marks none out of date.

Each request is kept as a row of `room_corrections` (serving.db.models.RoomCorrection: the
photo, its family, the note before and after, the reason in words, who and when), which the
family page shows, and audited (`photo_room_corrected`: the photo, its family and bytes, the
notes, the row's id and the reason's `reason_sha256`), as a decision is: the hash-chained
entry pins the words without copying them into a log nothing can erase (serving.room_check
tells a row changed after it). A request for the note the photo has already changes nothing
and is kept and audited all the same (`unchanged`), as an unchanged family update is: every
request with a reason is on the record.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from serving import audit
from serving.db.models import Photo, RoomCorrection
from serving.decisions import reason_sha256, reason_words
from serving.errors import ForbiddenError, NotFoundError
from serving.latest_assessments import lock_family
from serving.rows_by_family import rows_by_family

# Roles that may correct a photo's room note: an inspector only for the photos they uploaded.
CORRECTORS = ("inspector", "admin")


@dataclass(frozen=True)
class Corrected:
    """A correction's outcome: the photo (its note as now filed), the note it had before, and
    whether it already had the note asked for (then only the correction's row and its audit
    entry were written)."""

    photo: Photo
    previous: str | None
    unchanged: bool


def reason_refusal(reason: str, max_chars: int) -> str | None:
    """Why a correction's `reason` is refused, counted as it would be stored (`reason_words`:
    a line break is one, however it was sent): "reason_empty" (nothing left),
    "reason_too_long" (over `max_chars`, configs/serving.yaml reason_chars.room_correction_max);
    None: it is admitted. The API's route and the page's form check it alike."""
    words = reason_words(reason)
    if not words:
        return "reason_empty"
    return "reason_too_long" if len(words) > max_chars else None


def corrections_of(session: Session, family_id: str) -> dict[int, list[tuple[RoomCorrection, str]]]:
    """The family's room corrections by photo id, each photo's newest first, each with the
    username of who sent it: read once for a whole family page."""
    rows = rows_by_family(session, RoomCorrection, family_id, by=RoomCorrection.corrected_by)
    found: dict[int, list[tuple[RoomCorrection, str]]] = {}
    for correction, username in rows:
        found.setdefault(correction.photo_id, []).append((correction, username))
    return found


def may_correct(photo: Photo, *, user_id: int, role: str) -> bool:
    """Whether the user may correct `photo`'s note: an admin, or the inspector who uploaded
    it. The region is not checked here: the caller has scoped the photo to the user's."""
    return role == "admin" or (role == "inspector" and photo.uploaded_by == user_id)


def check_may_correct(photo: Photo, *, user_id: int, role: str) -> None:
    """Refuse (403) anyone but an admin or the inspector who uploaded `photo`; the route's
    policy and region scope have admitted the caller already."""
    if may_correct(photo, user_id=user_id, role=role):
        return
    raise ForbiddenError(
        f"only the inspector who uploaded photo {photo.id}, or an admin, may correct its "
        "room; ask them to"
    )


def correct_room(
    session: Session,
    key: bytes,
    photo: Photo,
    *,
    actor: tuple[int, str],
    room_hint: str | None,
    reason: str,
) -> Corrected:
    """Set `photo`'s room note to `room_hint` (a taxonomy room, checked by the caller; None
    clears it), keep the request with `reason` (admitted by `reason_refusal`, checked by the
    caller) as a RoomCorrection by `actor` (user id, username) and audit it, in the caller's
    transaction, which commits it.

    Under the family's lock, as uploads and decisions write: the note is re-read under it, so
    two corrections sent at once each keep the note the other left (`previous`). The same
    note as filed changes no photo; the request is kept and audited all the same, marked
    unchanged (`"unchanged": true` in the entry), as an unchanged family update is. The
    reason is stored as a decision's is (`reason_words`: a line break sent as CRLF or CR is
    one LF, whichever way it came), and the entry holds its `reason_sha256`, not its words."""
    if lock_family(session, photo.family_id) is None:  # gone since the scope check
        raise NotFoundError(f"no photo {photo.id} in your region")
    session.refresh(photo)  # the note as of the lock, not as the scope check read it
    previous = photo.room_hint
    unchanged = previous == room_hint
    if not unchanged:
        photo.room_hint = room_hint
        session.flush()
    correction = RoomCorrection(
        photo_id=photo.id, family_id=photo.family_id, previous_room_hint=previous,
        room_hint=room_hint, reason=reason_words(reason), corrected_by=actor[0],
        unchanged=unchanged,
    )  # fmt: skip
    session.add(correction)
    session.flush()
    details = {
        "family_id": photo.family_id, "sha256": photo.sha256,
        "previous_room_hint": previous, "room_hint": room_hint,
        # The row the entry records, and its reason's words pinned, not copied (reason_sha256).
        "correction_id": correction.id, "reason_sha256": reason_sha256(correction.reason),
    }  # fmt: skip
    audit.append(
        session, key, actor=actor[1], action="photo_room_corrected", target=f"photo:{photo.id}",
        details={**details, "unchanged": True} if unchanged else details,
    )  # fmt: skip
    return Corrected(photo, previous, unchanged=unchanged)
