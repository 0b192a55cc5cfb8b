"""The pages' session warning asks here on "Stay signed in"; the answer renews the session.

The renewal itself is the one every page request gets (`session.CookieAuth`), so this route
grants nothing a page view would not; it only records nothing, opens no page, and tells the
page its new session clock. A session that ended gets the sign-in redirect, as pages do.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from serving.api.deps import policy
from serving.db.models import ROLES
from serving.web.render import SECURITY_HEADERS
from serving.web.session import PREFIX
from serving.web.session_clock import session_clock

router = APIRouter(prefix=PREFIX, include_in_schema=False)

KEEPALIVE_PATH = f"{PREFIX}/session"


@router.get("/session", **policy(*ROLES))
def keep_alive(request: Request) -> JSONResponse:
    """The session clock after this answer's renewal: {ends_in_s, warn_before_s, final}."""
    clock = session_clock(request)
    return JSONResponse(asdict(clock) if clock else {}, headers=SECURITY_HEADERS)
