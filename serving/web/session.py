"""The browser session: the API's signed token in an HttpOnly cookie, and CSRF double-submit.

Pages reuse the API's access rules unchanged: `CookieAuth` hands the session cookie of a
request under /ui to the API's bearer dependency as an Authorization header, so `policy(...)`,
`CurrentUserDep` and the `*InScope` dependencies decide for pages exactly as for the API.
The cookie is sent only to /ui paths (its Path) and never cross-site (SameSite=Strict); the
API under other paths still needs an explicit bearer header, so it gains no ambient login.
Every form post also carries a token that must equal the CSRF cookie (double submit).
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Annotated

from fastapi import Form, Request, Response
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from shanyraq.errors import ShanyraqError

PREFIX = "/ui"
SESSION_COOKIE = "shanyraq_session"
CSRF_COOKIE = "shanyraq_csrf"
LANG_COOKIE = "shanyraq_lang"
CSRF_FIELD = "csrf_token"
_CSRF_SHAPE = re.compile(r"^[0-9a-f]{64}$")
_YEAR_S = 365 * 24 * 3600


class CsrfError(ShanyraqError):
    code = "csrf_failed"
    http_status = 403


def is_page_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


class CookieAuth:
    """ASGI middleware: under /ui, the session cookie stands in for a missing bearer header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_page_path(scope["path"]):
            headers = list(scope["headers"])
            if not any(name == b"authorization" for name, _ in headers):
                raw = b"; ".join(value for name, value in headers if name == b"cookie")
                token = cookie_parser(raw.decode("latin-1")).get(SESSION_COOKIE)
                if token:
                    headers.append((b"authorization", b"Bearer " + token.encode("latin-1")))
                    scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


def _secure(request: Request) -> bool:
    # Secure cookies need HTTPS; behind the TLS proxy the scheme is https.
    return request.url.scheme == "https"


def set_session(response: Response, request: Request, *, token: str, ttl_s: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=ttl_s,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict")


def csrf_token(request: Request) -> str:
    """This browser's CSRF token; a new one (set on the response by `render`) if it has none."""
    existing = request.cookies.get(CSRF_COOKIE, "")
    if _CSRF_SHAPE.match(existing):
        return existing
    fresh: str | None = getattr(request.state, "new_csrf", None)
    if fresh is None:
        fresh = secrets.token_hex(32)
        request.state.new_csrf = fresh
    return fresh


def remember_csrf(response: Response, request: Request) -> None:
    fresh = getattr(request.state, "new_csrf", None)
    if fresh is not None:
        response.set_cookie(
            CSRF_COOKIE,
            fresh,
            max_age=_YEAR_S,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
        )


def remember_language(response: Response, request: Request, language: str) -> None:
    if request.cookies.get(LANG_COOKIE) != language:
        response.set_cookie(
            LANG_COOKIE,
            language,
            max_age=_YEAR_S,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
        )


def check_csrf(request: Request, csrf_token: Annotated[str, Form(max_length=128)] = "") -> None:
    """Dependency of every form post: the form's token must equal the CSRF cookie."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not (_CSRF_SHAPE.match(cookie) and hmac.compare_digest(cookie, csrf_token)):
        raise CsrfError(
            "the form is out of date or was sent from another site; reload the page and try again"
        )
