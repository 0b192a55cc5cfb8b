"""A filed photo's room note corrected, by the inspector who uploaded it or an admin, audited.

PUT, not PATCH: the request names the note whole (a room, or null for none), and sending it
again leaves what the first one left, as PUT /families/{family_id} updates a record.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError

from serving.api.deps import (
    CurrentUserDep,
    FamilyId,
    RowId,
    ServicesDep,
    SessionDep,
    family_in_scope,
    photo_in_scope,
    policy,
)
from serving.api.errors import error_responses
from serving.api.photo_schemas import RoomCorrectionIn, RoomCorrectionOut
from serving.api.routes.photos import check_room_hint, photo_out, reuse_of
from serving.api.strict_json import StrictJSONRoute
from serving.errors import NotFoundError
from serving.photo_evidence import filed_repeats
from serving.photo_room import CORRECTORS, check_may_correct, correct_room, reason_refusal

router = APIRouter(tags=["photos"], route_class=StrictJSONRoute)


def check_reason_length(reason: str, max_chars: int) -> None:
    """Refuse a reason over `max_chars` (configs/serving.yaml reason_chars.room_correction_max
    of the running service), counted as it would be stored, as the body's own checks refuse
    one: 422 `request_invalid` at `body.reason`. The body's model is built once for every app,
    so the limit each app was started with is checked here, before anything is looked up."""
    if reason_refusal(reason, max_chars) != "reason_too_long":
        return
    why = (
        f"Value error, the reason may hold at most {max_chars} characters (a line break "
        "counts as one); shorten it"
    )
    raise RequestValidationError(
        [{"type": "value_error", "loc": ("body", "reason"), "msg": why, "input": reason}]
    )


@router.put(
    "/families/{family_id}/photos/{photo_id}/room", response_model=RoomCorrectionOut,
    responses=error_responses(401, 403, 404, 422), **policy(*CORRECTORS),
)  # fmt: skip
def correct_photo_room(
    body: RoomCorrectionIn,
    family_id: FamilyId,
    photo_id: RowId,
    user: CurrentUserDep,
    services: ServicesDep,
    session: SessionDep,
) -> dict[str, Any]:
    """Correct the room the inspector noted for a filed photo, saying why.

    Only the inspector who uploaded the photo, or an admin, may (403 for anyone else of the
    region; 404 for a family or photo outside it, or a photo of another family). An unknown
    room is refused as at upload (422 `record_invalid`); a missing or empty reason, or one
    over configs/serving.yaml `reason_chars.room_correction_max`, with 422 `request_invalid`.
    The change, the correction kept with its reason (shown on the family page) and its audit
    entry (`photo_room_corrected`: the note before and after, the correction's id and its
    reason's `reason_sha256`) commit together. The note the photo has already is answered 200
    `unchanged`: the photo does not change, and the request is kept and audited all the same
    (`"unchanged": true` in the entry), as PUT /families/{family_id} audits an unchanged
    update. The assessment never reads the note, so none goes out of date. Answered as GET
    /photos/{photo_id} shows the photo, its reuse and repeats read once the change is
    committed, with `previous_room_hint`."""
    check_reason_length(body.reason, services.settings.reason_chars.room_correction_max)
    # The family and the photo are read here, after every parameter has been checked, not as
    # dependencies: FastAPI calls a dependency whose own parameters are valid even where
    # another's are not, so a malformed photo id would be answered with the family's 404 (or a
    # malformed family id with the photo's) instead of 422.
    family = family_in_scope(family_id, user, session)
    photo = photo_in_scope(photo_id, user, session)
    if photo.family_id != family.id:
        raise NotFoundError(f"no photo {photo.id} of family {family.id!r} in your region")
    check_may_correct(photo, user_id=user.id, role=user.role)
    check_room_hint(body.room_hint)
    corrected = correct_room(
        session, services.signing_key, photo, actor=(user.id, user.username),
        room_hint=body.room_hint, reason=body.reason,
    )  # fmt: skip
    session.commit()  # before reading stored photos: the database is not held meanwhile
    return {
        **photo_out(photo, repeats=filed_repeats(services, photo)),
        "duplicate": None,  # an upload's answer, not the photo's (as GET /photos/{photo_id})
        "room_hint_ignored": None,
        "reuse": reuse_of(services, user, photo),
        "previous_room_hint": corrected.previous,
        "unchanged": corrected.unchanged,
    }
