"""Correcting a filed photo's room note: who may, the change, and its audit entry, written in
one transaction under the family's lock.

A photo's room hint is the inspector's note of which room it shows, set at upload and shown
on the family page beside the model's room. Sending the photo again does not change it
(serving.resend_hint); this does, for the inspector who uploaded the photo or an admin of its
region. The assessment never reads the note: each photo's room comes from its scores
(welfare.aggregate.room_of), and an assessment's input hash covers the family record, the
scores and the photo flags only (welfare.assess.input_hash). So a correction leaves every
assessment as current as it was, and marks none out of date.

The audit entry (`photo_room_corrected`) is the correction's only record: it names the photo,
its family and bytes, the note before and after, and the reason in words. A request for the
note the photo has already changes nothing and is audited all the same (`"unchanged": true`),
as an unchanged family update is: every request with a reason is on the record.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from serving import audit
from serving.db.models import Photo
from serving.errors import ForbiddenError, NotFoundError
from serving.latest_assessments import lock_family

# Roles that may correct a photo's room note: an inspector only for the photos they uploaded.
CORRECTORS = ("inspector", "admin")
# The most characters a correction's reason may hold: it is kept word for word in the audit
# entry, the correction's only record, which nothing may erase (line breaks as typed, other
# unprintable characters escaped, never cut: serving.audit.reason_text).
ROOM_REASON_MAX_CHARS = 500


@dataclass(frozen=True)
class Corrected:
    """A correction's outcome: the photo (its note as now filed), the note it had before, and
    whether it already had the note asked for (then only the audit entry was written)."""

    photo: Photo
    previous: str | None
    unchanged: bool


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
    actor: str,
    room_hint: str | None,
    reason: str,
) -> Corrected:
    """Set `photo`'s room note to `room_hint` (a taxonomy room, checked by the caller; None
    clears it) and audit it with `reason`, in the caller's transaction, which commits it.

    Under the family's lock, as uploads and decisions write: the note is re-read under it, so
    two corrections sent at once each audit the note the other left (`previous`). The same
    note as filed changes no row; the request is audited all the same, marked
    `"unchanged": true` (`unchanged`), as an unchanged family update is. A line break sent
    as CRLF (a browser's, or an API client's) is stored as one LF, whichever way it came."""
    if lock_family(session, photo.family_id) is None:  # gone since the scope check
        raise NotFoundError(f"no photo {photo.id} in your region")
    session.refresh(photo)  # the note as of the lock, not as the scope check read it
    previous = photo.room_hint
    unchanged = previous == room_hint
    if not unchanged:
        photo.room_hint = room_hint
        session.flush()
    details = {
        "family_id": photo.family_id, "sha256": photo.sha256,
        "previous_room_hint": previous, "room_hint": room_hint,
        "reason": audit.reason_text(reason.replace("\r\n", "\n"), ROOM_REASON_MAX_CHARS),
    }  # fmt: skip
    audit.append(
        session, key, actor=actor, action="photo_room_corrected", target=f"photo:{photo.id}",
        details={**details, "unchanged": True} if unchanged else details,
    )  # fmt: skip
    return Corrected(photo, previous, unchanged=unchanged)
