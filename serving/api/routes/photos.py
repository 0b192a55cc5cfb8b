"""Photos: upload for a family (quality, reuse flags and scores at once), list, view, image."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from serving.api.deps import (
    CurrentUser,
    CurrentUserDep,
    FamilyInScope,
    FamilyInScopeReadOnly,
    PhotoInScope,
    ReadSessionDep,
    ServicesDep,
    SessionDep,
    audit_action,
    policy,
)
from serving.api.errors import error_responses
from serving.api.photo_schemas import PhotoOut, PhotoViewOut, UploadOut
from serving.api.strict_json import StrictJSONRoute
from serving.db.models import Photo
from serving.db.session import session_scope
from serving.errors import BodyTooLargeError, RecordInvalidError
from serving.idempotency import replay, request_fingerprint, retention
from serving.photo_evidence import (
    Repeat,
    filed_repeats,
    listed_repeats,
)
from serving.ratelimit import LimitRefusedError, audit_refusal, count_refusal, user_key
from serving.reuse_links import reuse_links_of, reuse_shown
from serving.state import Services
from serving.upload_refusals import record_refusal
from serving.uploads import record_request, record_resend
from shanyraq.config import get_settings as get_io_settings
from shanyraq.errors import ShanyraqError
from shanyraq.taxonomy import get_taxonomy

router = APIRouter(tags=["photos"], route_class=StrictJSONRoute)

UPLOADERS = ("inspector", "admin")
VIEWERS = ("inspector", "commission", "admin")


def photo_out(photo: Photo, *, repeats: Sequence[Repeat] = ()) -> dict[str, Any]:
    """The photo's record; `repeats`: the family's photos it repeats (`filed_repeats`)."""
    score = photo.score
    return PhotoOut(
        photo_id=photo.id, family_id=photo.family_id, sha256=photo.sha256, format=photo.format,
        width=photo.width, height=photo.height, room_hint=photo.room_hint, has_gps=photo.has_gps,
        created_at=photo.created_at, quality=photo.quality,
        score=score,
        score_status="scored" if score is not None else "model_unavailable",
        repeat_of=[asdict(repeat) for repeat in repeats],
    ).model_dump(mode="json")  # fmt: skip


def check_room_hint(room_hint: str | None) -> None:
    rooms = get_taxonomy().room_names
    if room_hint is not None and room_hint not in rooms:
        raise RecordInvalidError(f"unknown room {room_hint!r}; choose one of {', '.join(rooms)}")


@router.post(
    "/families/{family_id}/photos",
    status_code=201,
    response_model=UploadOut,
    responses={
        200: {"model": UploadOut, "description": "Already filed (same bytes or same key)"},
        **error_responses(401, 403, 404, 413, 415, 422, 429, 500, 503),  # 500: the store failed
    },
    **policy(*UPLOADERS),
)
async def upload_photo(
    family: FamilyInScopeReadOnly,
    session: ReadSessionDep,
    user: CurrentUserDep,
    services: ServicesDep,
    file: Annotated[
        UploadFile,
        File(description="JPEG, PNG, WebP or HEIC photo (AVIF where the server decodes it)"),
    ],
    room_hint: Annotated[str | None, Form(description="Room type, if the inspector knows")] = None,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> JSONResponse:
    """File one photo: 201 only once the file is durable and the row committed.

    A photo the family already filed, sent again with other bytes (re-encoded, resized, a
    screenshot), is filed all the same; `repeat_of` names the filed photo, where it counts.

    A refusal from here on (4xx) is audited as `photo_refused`; the dependencies answer
    those before it (sign-in 401, role 403, a family outside the region 404). Every upload
    counts against the user's upload limit, refused ones too (an unknown room, a reused key,
    a photo too large), so past it the answer is 429 and the audit trail takes one notice a
    window, not an entry a request. A retry answered from its Idempotency-Key is no upload:
    it counts nowhere, and is answered past the limit (a phone that lost the answer)."""
    family_id, region = family.id, family.region
    session.commit()  # end the scope check's read: nothing may hold the database while scoring
    data: bytes | None = None
    try:
        check_room_hint(room_hint)
        _check_size(file.size)  # known from the form's parsing, where given: before reading it
        data = await file.read()
        _check_size(len(data))
        sha256 = hashlib.sha256(data).hexdigest()
        fingerprint = request_fingerprint(family_id=family_id, room_hint=room_hint, sha256=sha256)
        if idempotency_key:
            earlier = await run_in_threadpool(_replay, services, user, idempotency_key, fingerprint)
            if earlier is not None:
                return JSONResponse(earlier[1], status_code=earlier[0])
    except ShanyraqError as refused:
        if not _clients_fault(refused):
            raise
        answered = _counted_refusal(services, user, refused)
        unread = answered is refused and isinstance(refused, BodyTooLargeError) and data is None
        await _audit_refusal(
            services, user, family_id=family_id, error=answered, data=data,
            size_bytes=file.size if unread else None,
        )  # fmt: skip
        if answered is refused:
            raise
        raise answered from refused
    idempotency = (idempotency_key, fingerprint) if idempotency_key else None
    try:
        return await _file_photo(
            services, user, family_id=family_id, region=region, data=data, sha256=sha256,
            room_hint=room_hint, idempotency=idempotency,
        )  # fmt: skip
    except ShanyraqError as refused:
        if _clients_fault(refused):  # counted by the limiter already, or the limiter's 429
            await _audit_refusal(
                services, user, family_id=family_id, error=refused, data=data, size_bytes=None
            )
        raise


def _counted_refusal(
    services: Services, user: CurrentUser, refused: ShanyraqError
) -> ShanyraqError:
    """Count a refusal made before the upload was counted against the user's upload limit:
    the refusal to answer, or the limiter's 429 once the limit is spent (`refused` is then
    neither answered nor audited: the 429 is, once a window)."""
    limited = count_refusal(services.upload_limiter, user_key(user.id))
    return refused if limited is None else limited


def _check_size(size_bytes: int | None) -> None:
    """Refuse a photo over io.max_bytes (413), saying what to send instead."""
    max_bytes = get_io_settings().io.max_bytes
    if size_bytes is not None and size_bytes > max_bytes:
        raise BodyTooLargeError(
            f"the photo is {size_bytes} bytes, over the {max_bytes} bytes one photo may be; "
            "send a smaller photo: one taken at the camera's normal size, or a reduced copy"
        )


async def _file_photo(
    services: Services,
    user: CurrentUser,
    *,
    family_id: str,
    region: str,
    data: bytes,
    sha256: str,
    room_hint: str | None,
    idempotency: tuple[str, str] | None,
) -> JSONResponse:
    # Counted only now: a retry with its Idempotency-Key (how a phone makes a retry safe) is
    # answered before (`upload_photo`) from what was stored, and must not use up the uploads
    # it may still make; a refusal before this is counted there (`_counted_refusal`).
    # Counted while it runs (concurrent uploads cannot all pass), and given back on a 503 (the
    # model busy, hung, shutting down or stopped), a 500 (the store or database failed) or a
    # request cancelled (the server stopping): the fault is not the client's, and its retry
    # must not count twice. A refusal for the photo itself (4xx: a bad file) still counts: it
    # cost a decode, and a client sending junk must be limited.
    counted = user_key(user.id)
    at = services.upload_limiter.hit(counted)
    try:
        # A photo the family already has (a phone sending it again after a lost answer) is
        # answered as filed before it is decoded or scored: it needs no model, busy or stopped.
        resent = await run_in_threadpool(
            record_resend, services, data, sha256=sha256, actor=(user.id, user.username),
            family_id=family_id, idempotency=idempotency, viewer=(user.role, user.region),
            shape=photo_out, room_hint=room_hint,
        )  # fmt: skip
        if resent is not None:
            services.metrics.photos.labels(_quality_status(resent[1])).inc()
            return JSONResponse(resent[1], status_code=resent[0])
        analysis = await services.pipeline.analyse_async(data)  # bad bytes: 4xx here
        score = await services.pipeline.score(analysis)
        await run_in_threadpool(services.store.put, data)  # durable before the row exists
        status, body = await run_in_threadpool(
            record_request, services, actor=(user.id, user.username), family_id=family_id,
            region=region, analysis=analysis, score=score, room_hint=room_hint,
            size_bytes=len(data), idempotency=idempotency, viewer=(user.role, user.region),
            shape=photo_out,
        )  # fmt: skip
    except BaseException as exc:
        if not _clients_fault(exc):
            services.upload_limiter.forget(counted, at)
        raise
    services.metrics.photos.labels(analysis.quality.status).inc()
    return JSONResponse(body, status_code=status)


def _quality_status(body: dict[str, Any]) -> str:
    """The quality status in an upload's answer (the photos metric's label)."""
    quality = body.get("quality") or {}
    return str(quality.get("status", "unknown"))


def _clients_fault(exc: BaseException) -> bool:
    """Whether an upload that raised `exc` was refused for what the client sent (a 4xx)."""
    return isinstance(exc, ShanyraqError) and 400 <= exc.http_status < 500


async def _audit_refusal(
    services: Services,
    user: CurrentUser,
    *,
    family_id: str,
    error: ShanyraqError,
    data: bytes | None,
    size_bytes: int | None,
) -> None:
    """Audit one refused upload. Rate-limit refusals only once a window per user, with the
    count of the window before (`audit_refusal`, as for sign-ins and refused oversize bodies):
    a flood must not grow the log at its rate.
    `size_bytes`: the size of a photo refused for it before it was read (then `data` is None)."""
    limited = error if isinstance(error, LimitRefusedError) else None

    def write(notice: dict[str, Any]) -> bool:
        details = {**notice}
        if size_bytes is not None:
            details["size_bytes"] = size_bytes
        return record_refusal(
            services, actor=user.username, family_id=family_id, error=error, data=data,
            details=details or None,
        )  # fmt: skip

    await run_in_threadpool(audit_refusal, services.upload_limiter, limited, write)


def _replay(
    services: Services, user: CurrentUser, key: str, fingerprint: str
) -> tuple[int, dict[str, Any]] | None:
    with session_scope(services.readers) as session:
        return replay(
            session, user_id=user.id, key=key, fingerprint=fingerprint,
            kept_for=retention(services.settings),
        )  # fmt: skip


@router.get(
    "/families/{family_id}/photos", response_model=list[PhotoOut],
    responses=error_responses(401, 403, 404), **policy(*VIEWERS),
)  # fmt: skip
def list_photos(
    family: FamilyInScope, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> list[dict[str, Any]]:
    """The family's photos, oldest first, each naming the family's earlier photos it repeats
    as GET /photos/{id} does (the read is audited). The repeats are found once the audit entry
    is committed: verifying reads stored photos, never while holding the database."""
    rows = session.execute(select(Photo).where(Photo.family_id == family.id).order_by(Photo.id))
    photos = list(rows.scalars())
    audit_action(
        session, services, user, "photos_listed", target=f"family:{family.id}",
        details={"count": len(photos)},
    )  # fmt: skip
    repeats = listed_repeats(services, family, photos)
    return [photo_out(p, repeats=repeats.get(p.id, ())) for p in photos]


@router.get(
    "/photos/{photo_id}", response_model=PhotoViewOut,
    responses=error_responses(401, 403, 404), **policy(*VIEWERS),
)  # fmt: skip
def get_photo(
    photo: PhotoInScope, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> dict[str, Any]:
    """One photo's scores, quality verdict, reuse flags and the family's earlier photos it
    repeats, as an upload's answer names them (the view is audited). Its reuse and repeats
    are found once the audit entry is committed, each read in a read-only session of its own
    and verified after it: verifying reads stored photos, never while holding the database."""
    audit_action(
        session, services, user, "photo_viewed",
        target=f"photo:{photo.id}",
    )  # fmt: skip
    return {
        **photo_out(photo, repeats=filed_repeats(services, photo)),
        "duplicate": None,  # an upload's answer (UploadOut), not the photo's
        "room_hint_ignored": None,  # as "duplicate"
        "reuse": reuse_of(services, user, photo),
    }


def reuse_of(services: Services, user: CurrentUser, photo: Photo) -> dict[str, Any]:
    """Other families' photos that are the same as this one, as the user may see them and as
    the assessment counts them: the index's verdict and the reuse links, read in a read-only
    session (on SQLite a write session's transaction holds the write lock) and verified after."""
    with session_scope(services.readers) as reading:
        linked = reuse_links_of(reading, [photo]).get(photo.id, ())
    return reuse_shown(services, photo, linked, viewer_role=user.role, viewer_region=user.region)


@router.get(
    "/photos/{photo_id}/image",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "JPEG without EXIF or GPS"},
        # 413 image_too_large: the stored photo is over io.stored_max_pixels; 500
        # photo_store_damaged: its original is missing, unreadable or not the uploaded bytes.
        **error_responses(401, 403, 404, 413, 500),
    },
    **policy(*VIEWERS),
)
def get_photo_image(
    photo: PhotoInScope, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> Response:
    """The photo for browsers: re-encoded, upright, with no EXIF, GPS or camera metadata.
    Audited once it can be shown: a photo whose original cannot be read was seen by nobody.
    The original is checked on every view, not only when its browser copy is made: a copy
    made from it is the photo only while the original still is (`PhotoStore.served_jpeg`)."""
    session.commit()  # end the scope check's read: the database is not held while it is read
    data = services.store.served_jpeg(photo.sha256, max_pixels=get_io_settings().io.max_pixels)
    audit_action(
        session, services, user, "photo_image_viewed",
        target=f"photo:{photo.id}",
    )  # fmt: skip
    # Not cacheable (serving.app.PrivateByDefault: no-store): a family's home stays off disks.
    return Response(data, media_type="image/jpeg")
