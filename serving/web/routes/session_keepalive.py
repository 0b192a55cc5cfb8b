"""The pages' session warning asks here on "Stay signed in"; the answer renews the session.

The renewal itself is the one every page request gets (`session.CookieAuth`), so this route
grants nothing a page view would not; it only records nothing, opens no page, and tells the
page its new session clock. A session that ended gets the sign-in redirect, as pages do.

The answer also names the session's user and its forms' CSRF token: a page left open while
its session ended and another began (a sign-in in another tab) sends its forms again with
the new session's token, which the new session's own pages carry anyway. The token stays
bound to the session that asked (`session.csrf_token`); no other session accepts it, and no
other site can read this answer (same-origin, and the session cookie is SameSite=Strict).
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from serving.api.deps import CurrentUserDep, policy
from serving.db.models import ROLES
from serving.web.render import SECURITY_HEADERS
from serving.web.session import CSRF_FIELD, PREFIX, csrf_token
from serving.web.session_clock import session_clock

router = APIRouter(prefix=PREFIX, include_in_schema=False)

KEEPALIVE_PATH = f"{PREFIX}/session"


@router.get("/session", **policy(*ROLES))
def keep_alive(request: Request, user: CurrentUserDep) -> JSONResponse:
    """The session clock after this answer's renewal ({ends_in_s, warn_before_s, final}),
    with the session's `user` and forms' token (`csrf_token`)."""
    clock = session_clock(request)
    answer = {**(asdict(clock) if clock else {}), "user": user.username}
    answer[CSRF_FIELD] = csrf_token(request)
    return JSONResponse(answer, headers=SECURITY_HEADERS)
