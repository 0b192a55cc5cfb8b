"""Page routes, one module per page family, and the navigation built from their policies."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter

from serving.api.routes import photos as api_photos
from serving.web.routes import auth, families, oversight, photos, session_keepalive, upload
from serving.web.session import PREFIX

ROUTERS: list[APIRouter] = [
    auth.router,
    families.router,
    photos.router,
    upload.router,
    oversight.router,
    session_keepalive.router,
]


@dataclass(frozen=True)
class NavItem:
    key: str  # interface text key
    href: str
    roles: tuple[str, ...]  # the same roles the page's policy admits


NAV = (
    NavItem("nav.families", f"{PREFIX}/families", families.LIST_READERS),
    NavItem("nav.upload", f"{PREFIX}/upload", api_photos.UPLOADERS),
    NavItem("nav.oversight", f"{PREFIX}/oversight", oversight.ADMINS),
    NavItem("nav.audit", f"{PREFIX}/audit", oversight.ADMINS),
)
