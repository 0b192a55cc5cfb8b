"""The inspector's upload page: pick a family, send photos from a phone, see verdicts at once.

Each photo goes through the API's own upload route (quality gate, reuse check, scoring,
durable store, audit); one refused photo does not stop the others, and its 5xx is logged as
the API logs it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.api.deps import (
    CurrentUser,
    CurrentUserDep,
    ServicesDep,
    SessionDep,
    family_in_scope,
    policy,
    scoped,
)
from serving.api.errors import server_error_level
from serving.api.routes import photos as api_photos
from serving.db.models import Family
from serving.state import Services
from serving.web.deps import form_policy, record_view
from serving.web.render import render
from serving.web.session import PREFIX
from serving.web.session_clock import tell_session_clock
from serving.web.units import megabytes, megapixels
from shanyraq.config import get_settings as get_io_settings
from shanyraq.errors import ShanyraqError
from shanyraq.taxonomy import get_taxonomy
from vision.io import accepted_format_names

logger = logging.getLogger(__name__)

router = APIRouter(prefix=PREFIX, include_in_schema=False)

FRAGMENT_HEADER = "x-requested-with"  # the page's script asks for the results fragment only


@dataclass(frozen=True)
class PhotoLimits:
    """What one photo may be, as the refusals name it: megabytes and megapixels rounded down
    (serving.web.units: never above the real limit), the size the page's script refuses
    from, and the formats this service reads."""

    max_mb: float
    max_mp: float
    refused_from_bytes: int
    formats: tuple[str, ...]


def _photo_limits(services: Services) -> PhotoLimits:
    """A photo is refused over io.max_bytes (the route) or, with its form around it, over the
    request's max_body_bytes: the smaller limit is the one an inspector meets."""
    photo_bytes, body_bytes = get_io_settings().io.max_bytes, services.settings.max_body_bytes
    return PhotoLimits(
        max_mb=megabytes(min(photo_bytes, body_bytes)),
        max_mp=megapixels(services.pipeline.max_pixels),
        refused_from_bytes=min(photo_bytes + 1, body_bytes),
        formats=accepted_format_names(),  # as the decoder's own refusal names them
    )


@dataclass(frozen=True)
class UploadResult:
    filename: str
    photo: dict[str, Any] | None  # the API's answer when the photo was filed
    error_code: str | None = None
    error: str | None = None


def _families(session: Session, user: CurrentUser) -> list[tuple[str, str]]:
    statement = scoped(select(Family), user, Family.region).order_by(Family.id)
    return [(f.id, f.settlement) for f in session.execute(statement).scalars()]


def _upload_page(
    request: Request,
    user: CurrentUser,
    session: Session,
    services: Services,
    *,
    selected: str,
    room: str = "",
    results: list[UploadResult],
    error: str | None = None,
) -> Response:
    """The upload page, audited as a view (it lists the region's families); shown again after
    a post, it keeps the family and room chosen. Its form tells the script the size a photo is
    refused from, so a photo over the limit is reported at once instead of sent."""
    record_view(session, services, user, page="upload")
    session.commit()
    return render(
        request,
        "upload.html",
        user=user,
        status_code=422 if error else 200,
        families=_families(session, user),
        selected=selected,
        selected_room=room,
        rooms=get_taxonomy().room_names,
        limits=_photo_limits(services),
        results=results,
        error=error,  # a catalogue key: what is wrong with the form as a whole
    )


def _log_refusal(request: Request, exc: ShanyraqError) -> None:
    """A photo refused with a 5xx, logged once by the API's rule (`server_error_level`): a
    busy model's or a planned stop's 503 as a warning, one the pipeline logged itself not
    again, any other as an error; its code and message, never the photo. A 4xx (the photo
    itself, the sender's to fix) is not logged, as the API does not log it."""
    level = server_error_level(exc) if exc.http_status >= 500 else None
    if level is not None:
        logger.log(level, "page %s refused a photo: %s %s", request.url.path, exc.code, exc.message)


def _chosen(files: list[UploadFile] | None) -> list[UploadFile]:
    """The photos chosen: a browser sends a file field left empty as a part with no file
    name and no bytes, which is no photo (an empty file with a name is one, and is refused)."""
    return [f for f in files or [] if f.filename or f.size]


@router.get("/upload", **policy(*api_photos.UPLOADERS))
def upload_page(
    request: Request,
    user: CurrentUserDep,
    services: ServicesDep,
    session: SessionDep,
    family: str = "",
) -> Response:
    return _upload_page(request, user, session, services, selected=family, results=[])


@router.post("/upload", **form_policy(*api_photos.UPLOADERS))
async def upload(
    request: Request,
    user: CurrentUserDep,
    services: ServicesDep,
    session: SessionDep,
    family_id: Annotated[str, Form(min_length=1, max_length=64)],
    files: Annotated[list[UploadFile] | None, File()] = None,
    room_hint: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """File each photo; answer with its quality verdict, retake hint, reuse flag and scores.

    A form with no photo (none chosen, or under another field name) shows the page again
    saying so, the family and room kept; the family's region is checked first.
    """
    family = family_in_scope(family_id, user, session)
    chosen = _chosen(files)
    if not chosen:
        return _upload_page(
            request, user, session, services, selected=family_id, room=room_hint,
            results=[], error="upload.no_photos",
        )  # fmt: skip
    results = []
    for upload_file in chosen:
        name = (upload_file.filename or "photo")[:120]
        try:
            answer = await api_photos.upload_photo(
                family=family,
                session=session,
                user=user,
                services=services,
                file=upload_file,
                room_hint=room_hint or None,
                idempotency_key=None,
            )
            results.append(UploadResult(name, json.loads(bytes(answer.body))))
        except ShanyraqError as exc:  # this photo is refused; the others still go through
            _log_refusal(request, exc)
            results.append(UploadResult(name, None, exc.code, exc.message))
    if request.headers.get(FRAGMENT_HEADER) == "fetch":
        fragment = render(
            request, "_upload_results.html", user=user, results=results,
            limits=_photo_limits(services),
        )  # fmt: skip
        tell_session_clock(fragment, request)  # the page's session warning learns of a renewal
        return fragment
    return _upload_page(
        request, user, session, services, selected=family_id, room=room_hint, results=results
    )
