"""The commission's pages: the list of families, one family in full, the decision form, and
the form on a photo's card that corrects its room note."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from serving.api.deps import (
    CurrentUser,
    CurrentUserDep,
    FamilyInScope,
    RowId,
    ServicesDep,
    SessionDep,
    photo_in_scope,
    policy,
)
from serving.api.routes.assessments import DECIDERS, READERS
from serving.api.routes.photos import check_room_hint
from serving.db.models import Assessment, Decision, Family
from serving.decisions import (
    DECISION_REFUSAL_ERRORS,
    DECISION_REFUSALS,
    DecisionRefusal,
    DecisionRequest,
    level_not_chosen,
    record_decision,
)
from serving.errors import NotFoundError, RecordInvalidError
from serving.photo_room import (
    CORRECTORS,
    check_may_correct,
    correct_room,
    corrections_of,
    reason_refusal,
)
from serving.state import Services
from serving.web.deps import form_policy, record_view
from serving.web.family_view import STATUSES, family_page, family_rows
from serving.web.i18n import LIST_SEPARATOR, Translator, translator
from serving.web.render import page_language, render
from serving.web.session import PREFIX
from shanyraq.taxonomy import get_taxonomy
from welfare.criteria import get_welfare_config

router = APIRouter(prefix=PREFIX, include_in_schema=False)

LIST_READERS = ("commission", "admin")
RECORDED_ANCHOR = "decision-recorded"  # the confirmation's id on the family page
# The redirect's query after a room note's correction, by its outcome: the photo's id.
ROOM_OUTCOMES = {"room_corrected": False, "room_unchanged": True}


@dataclass(frozen=True)
class RoomForm:
    """A refused room correction, shown again on its photo's card: what was chosen and typed,
    the field at fault and why, in the reader's words."""

    photo_id: int
    room_hint: str
    reason: str
    field: str  # room_hint or reason
    error: str


@dataclass(frozen=True)
class RoomNotice:
    """The outcome of the correction just sent, on its photo's card (the redirect's query)."""

    photo_id: int
    unchanged: bool


def _levels() -> list[int]:
    """The welfare levels of configs/welfare.yaml `levels`, worst first."""
    return get_welfare_config().level_values


def _level_number(level: str) -> int | None:
    """The level a form field holds, or None if it is not a number in ASCII digits.

    `str.isdigit` alone also takes digits such as "²", which `int` then refuses.
    """
    return int(level) if level.isascii() and level.isdigit() else None


def _level_filter(level: str) -> int | None:
    if not level:
        return None
    number = _level_number(level)
    if number is None or number not in _levels():
        raise RecordInvalidError(f"level must be one of {', '.join(map(str, _levels()))}")
    return number


@router.get("/families", **policy(*LIST_READERS))
def family_list(
    request: Request,
    user: CurrentUserDep,
    services: ServicesDep,
    session: SessionDep,
    status: str = "",
    level: str = "",
) -> Response:
    """Families of the reader's region, needs_review first, with their flags."""
    if status and status not in STATUSES:
        raise RecordInvalidError(f"status must be one of {', '.join(STATUSES)}")
    listing = family_rows(
        session, services, user, status=status or None, level=_level_filter(level)
    )
    record_view(
        session,
        services,
        user,
        page="families",
        # The filters set; an unset one is not recorded (not as a null).
        details={k: v for k, v in (("status", status), ("level", level)) if v} or None,
    )
    session.commit()
    return render(
        request,
        "families.html",
        user=user,
        rows=listing.rows,
        total=listing.total,
        statuses=STATUSES,
        levels=_levels(),
        status=status,
        level=level,
    )


def _refusal_text(t: Translator, refused: DecisionRefusal) -> str:
    """Why a decision was refused, in the reader's words (`decision_error.<refusal>`): reason
    codes, stale causes and a level as their labels, the choice of levels as digits, a count
    (`n`: a reason's length limit) grouped as the pages write numbers."""
    shown: dict[str, object] = {}
    for name, value in refused.params.items():
        if name == "reasons":
            shown[name] = LIST_SEPARATOR.join(t.label("reason_code", code) for code in value)
        elif name == "why":
            shown[name] = t.label("stale_reason", value)
        elif name == "level":
            shown[name] = t.label("level", value)
        elif name == "kind":
            shown[name] = t.label("decision_kind", value)
        elif name == "levels":
            shown[name] = ", ".join(map(str, value))
        elif name == "n":
            shown[name] = t.number(value)
        else:
            shown[name] = value
    return t(f"decision_error.{refused.refusal}", **shown)


def _family_response(
    request: Request,
    session: Session,
    services: Services,
    family: Family,
    user: CurrentUser,
    *,
    status_code: int = 200,
    refused: DecisionRefusal | None = None,
    form: dict[str, str] | None = None,
    room_form: RoomForm | None = None,
) -> Response:
    view = family_page(session, services, family, user)
    limits = services.settings.reason_chars
    corrections = corrections_of(session, family.id)  # as of the view, before it commits
    record_view(
        session,
        services,
        user,
        page="family",
        target=f"family:{family.id}",
        details={"assessment_id": view.assessment.id},
    )
    session.commit()
    decided_id = request.query_params.get("decided")
    return render(
        request,
        "family.html",
        user=user,
        status_code=status_code,
        view=view,
        levels=_levels(),
        # The textarea's maxlength and the help's minimum and maximum: the limits the service
        # checks, its settings' configs/serving.yaml reason_chars (one source).
        reason_max_chars=limits.decision_max,
        reason_min_chars=limits.override_min,
        can_decide=user.role in DECIDERS,
        error=_refusal_text(translator(page_language(request)), refused) if refused else None,
        error_field=DECISION_REFUSALS[refused.refusal] if refused else None,
        form=form or {},
        decided_id=decided_id,
        # The decision just recorded (the redirect's `decided`), named where the member lands.
        recorded=next((d for d, _ in view.decisions if str(d.id) == decided_id), None),
        recorded_anchor=RECORDED_ANCHOR,
        # The room form's choices, as the upload page offers them, and the reason's limit.
        rooms=get_taxonomy().room_names,
        room_reason_max_chars=limits.room_correction_max,
        room_form=room_form,
        room_notice=_room_notice(request),
        # Each photo's corrections (who, when, the notes, why), newest first: photo id -> list.
        room_corrections=corrections,
    )


def _room_notice(request: Request) -> RoomNotice | None:
    for name, unchanged in ROOM_OUTCOMES.items():
        photo_id = request.query_params.get(name, "")
        if photo_id.isascii() and photo_id.isdigit():
            return RoomNotice(int(photo_id), unchanged)
    return None


@router.get("/families/{family_id}", **policy(*READERS))
def family_detail(
    request: Request,
    family: FamilyInScope,
    user: CurrentUserDep,
    services: ServicesDep,
    session: SessionDep,
) -> Response:
    """Level, recommendation, reasons, every photo with its evidence, and the decisions."""
    return _family_response(request, session, services, family, user)


@router.post("/families/{family_id}/decisions", **form_policy(*DECIDERS))
def decide(
    request: Request,
    family: FamilyInScope,
    user: CurrentUserDep,
    services: ServicesDep,
    session: SessionDep,
    assessment_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    kind: Annotated[Literal["accept", "override"], Form()],
    level: Annotated[str, Form(max_length=2)] = "",
    reason_code: Annotated[str, Form(max_length=64)] = "",
    # No limit here: a browser sends each line break as CRLF, two characters, where the
    # textarea's maxlength counted one; serving.decisions counts the reason as it stores it
    # and refuses one too long with the form shown again (refusal reason_too_long).
    reason: Annotated[str, Form()] = "",
    seen_decision_id: Annotated[int | None, Form(ge=0, le=2**31 - 1)] = None,
) -> Response:
    """Record the commission's decision; a refused one shows the page again with the reason.

    `seen_decision_id` is the family's latest decision when the form was shown (0: none): a
    copy sent again lands on the first one's confirmation, and a form sent after another
    decision was recorded records nothing (serving.decisions.decided_since_seen).
    """
    assessment = session.get(Assessment, assessment_id)
    if assessment is None or assessment.family_id != family.id:
        raise NotFoundError(f"no assessment {assessment_id} for family {family.id!r}")
    request_ = DecisionRequest(
        kind=kind,
        level=_level_number(level),
        reason_code=reason_code or None,
        reason=reason,
        seen_decision_id=seen_decision_id,
    )
    try:
        if level and request_.level is None:
            raise level_not_chosen(_levels(), in_digits=True)
        recorded = record_decision(
            session, services, assessment, family, request_, actor=(user.id, user.username)
        )
    except DECISION_REFUSAL_ERRORS as refused:
        session.rollback()
        form = {"kind": kind, "level": level, "reason_code": reason_code, "reason": reason}
        return _family_response(
            request,
            session,
            services,
            family,
            user,
            status_code=refused.http_status,
            refused=refused,
            form=form,
        )
    session.commit()
    if not recorded.repeated:
        services.metrics.decisions.labels(recorded.decision.kind).inc()
    return _to_recorded(family, recorded.decision)


def _to_recorded(family: Family, decision: Decision) -> Response:
    """Lands on the confirmation itself (focusable), at the top of the decision section."""
    return RedirectResponse(
        f"{PREFIX}/families/{family.id}?decided={decision.id}#{RECORDED_ANCHOR}", status_code=303
    )


def _room_refusal(
    t: Translator, room_hint: str, reason: str, max_chars: int
) -> tuple[str, str] | None:
    """What is wrong with a room correction, as (field, why in the reader's words): the
    API's checks (an unknown room as at upload, a reason of 1 to `max_chars`, the service's
    reason_chars.room_correction_max, characters counted as stored:
    serving.photo_room.reason_refusal)."""
    try:
        check_room_hint(room_hint or None)
    except RecordInvalidError:
        return "room_hint", t("room_form.unknown_room")
    refusal = reason_refusal(reason, max_chars)
    if refusal is not None:
        return "reason", t(f"room_form.{refusal}", n=t.number(max_chars))
    return None


@router.post("/families/{family_id}/photos/{photo_id}/room", **form_policy(*CORRECTORS))
def correct_photo_room(
    request: Request,
    family: FamilyInScope,
    photo_id: RowId,
    user: CurrentUserDep,
    services: ServicesDep,
    session: SessionDep,
    room_hint: Annotated[str, Form(max_length=64)] = "",
    # No limit here, as the decision's reason: a browser sends a line break as CRLF, counted
    # here as the one character the textarea's maxlength counted.
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Correct a photo's room note from its card (serving.photo_room, as the API's PUT): the
    uploader or an admin only (403 page), a photo of this family in the region (404 page).
    A refused one shows the page again with why, what was chosen and typed kept; a
    correction, or the note the photo has already (audited as unchanged), lands on the card
    saying which."""
    # Read here, not as a dependency, as the API's route reads it: a field the post got wrong
    # is answered as such, not with the photo's 404.
    photo = photo_in_scope(photo_id, user, session)
    if photo.family_id != family.id:
        raise NotFoundError(f"no photo {photo.id} of family {family.id!r} in your region")
    check_may_correct(photo, user_id=user.id, role=user.role)
    max_chars = services.settings.reason_chars.room_correction_max
    refused = _room_refusal(translator(page_language(request)), room_hint, reason, max_chars)
    if refused:
        field, error = refused
        # An unknown room (no choice of the list) shows the note as filed chosen again.
        chosen = (photo.room_hint or "") if field == "room_hint" else room_hint
        return _family_response(
            request, session, services, family, user, status_code=422,
            room_form=RoomForm(photo.id, chosen, reason, field, error),
        )  # fmt: skip
    corrected = correct_room(
        session, services.signing_key, photo, actor=(user.id, user.username),
        room_hint=room_hint or None, reason=reason,
    )  # fmt: skip
    session.commit()
    outcome = "room_unchanged" if corrected.unchanged else "room_corrected"
    return RedirectResponse(
        f"{PREFIX}/families/{family.id}?{outcome}={photo.id}#room-noted-{photo.id}",
        status_code=303,
    )
