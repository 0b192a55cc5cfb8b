"""A room hint sent with a photo the family already has: told, never taken.

A family's photo is filed once (its bytes); sending it again is answered 200 with the photo
filed then (`duplicate: true`), and changes nothing filed, its room hint included. An inspector
who sends a photo again to correct its room would otherwise read the answer as the correction
taken: the answer (`room_hint_ignored`) and the audit entry name the hint sent and the one
filed. Nothing is said when no hint was sent, or the filed one: nothing was asked.

Sending a photo again never changes its room hint; correcting it does (PUT
/families/{family_id}/photos/{photo_id}/room, serving.photo_room): by the inspector who uploaded
the photo, or an admin, with a reason, audited. It is the inspector's note, shown on the family
page beside the model's room; the assessment reads each photo's room from the photo itself
(welfare.aggregate.room_of), never from the note, so a correction leaves assessments current.
"""

from __future__ import annotations

from typing import Any

_NOT_TAKEN = (
    "This photo was already filed for this family {stored}; the room sent with it now "
    "({sent}) was not taken: sending a photo again changes nothing filed. It is the "
    "inspector's note only: the assessment reads each photo's room from the photo itself. If "
    "the note is wrong, correct it with PUT /families/{family_id}/photos/{photo_id}/room "
    "and a reason (the inspector who uploaded the photo, or an admin)."
)


def ignored_hint(sent: str | None, stored: str | None) -> dict[str, str | None] | None:
    """The hint `sent` with a photo filed with `stored`, as the audit entry notes it, where it
    was not taken ({"sent", "stored"}); None when none was sent or it is the filed one."""
    if sent is None or sent == stored:
        return None
    return {"sent": sent, "stored": stored}


def hint_answer(
    ignored: dict[str, str | None] | None, *, family_id: str, photo_id: int
) -> dict[str, Any] | None:
    """An upload's `room_hint_ignored` (serving.api.photo_schemas.RoomHintIgnored): the
    hints of `ignored_hint` with what they mean, in English, naming the address that corrects
    the note of photo `photo_id` of family `family_id` (the pages say it in the reader's
    language); None when nothing was ignored."""
    if ignored is None:
        return None
    stored = ignored["stored"]
    filed = f"with the room {stored}" if stored is not None else "with no room noted"
    text = _NOT_TAKEN.format(
        stored=filed, sent=ignored["sent"], family_id=family_id, photo_id=photo_id
    )
    return {**ignored, "text": text}
