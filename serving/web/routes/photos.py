"""Photos on pages: the browser copy (the API's own route) and the per-sign heat-map overlay."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from serving import audit
from serving.api.deps import CurrentUserDep, PhotoInScope, ServicesDep, SessionDep, policy
from serving.api.routes import photos as api_photos
from serving.web import heatmaps
from serving.web.session import PREFIX

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/photos/{photo_id}/image", **policy(*api_photos.VIEWERS))
def photo_image(
    photo: PhotoInScope, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> Response:
    """The re-encoded photo without EXIF or GPS (audited by the API route it calls)."""
    return api_photos.get_photo_image(photo, user, services, session)


@router.get("/photos/{photo_id}/heatmap/{sign}", **policy(*api_photos.VIEWERS))
def photo_heatmap(
    sign: str, photo: PhotoInScope, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> Response:
    """Where the evidence for one sign lies on the photo (Grad-CAM overlay, cached)."""
    # The database is not held while model.pt is checked (hashed where its stat changed) or
    # the heat map computed: the photo's columns stay loaded once the scope check's read ends.
    sha256, photo_id = photo.sha256, photo.id
    session.commit()
    heatmaps.check_sign(sign)
    heatmaps.check_explains(services, photo)
    heatmaps.check_sign_scored(photo, sign)  # no map beside a dash, as the page offers none
    png = heatmaps.sign_overlay(services, sha256=sha256, sign=sign)
    # Audited once drawn: a heat map refused (an unreadable original, a model.pt replaced
    # since start) was seen by nobody.
    audit.append(
        session,
        services.signing_key,
        actor=user.username,
        action="heatmap_viewed",
        target=f"photo:{photo_id}",
        details={"head": "signs", "label": sign},
    )
    session.commit()
    # Not cacheable (serving.app.PrivateByDefault: no-store): after sign-out, a shared
    # computer's browser must not show it again. The server keeps the PNG; a refetch is cheap.
    return Response(png, media_type="image/png")
