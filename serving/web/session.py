"""The browser session: the API's signed token in an HttpOnly cookie, and the CSRF tokens.

Pages reuse the API's access rules unchanged: `CookieAuth` hands the session cookie of a
request under /ui to the API's bearer dependency as an Authorization header, so `policy(...)`,
`CurrentUserDep` and the `*InScope` dependencies decide for pages exactly as for the API.
The cookie is sent only to /ui paths (its Path) and never cross-site (SameSite=Strict); the
API under other paths still needs an explicit bearer header, so it gains no ambient login.
It has no Max-Age: closing the browser ends it, and the token's own expiry bounds it anyway.

Every form post carries a CSRF token. A signed-in form's token is bound to the session: an
HMAC of its token id (jti) with the signing key, as in OWASP's signed double submit, checked
against the session itself, so no cookie an attacker plants can stand in for it, and a new
session (a password change included) gets a new one. The sign-in form has no session yet: its
token must equal a random CSRF cookie (double submit), and that cookie is replaced whenever a
session starts or ends.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from fastapi import Request, Response
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.core.security import decode_token
from serving.errors import InvalidTokenError
from serving.state import Services
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


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _secure(request: Request) -> bool:
    """Whether cookies get `Secure`: serving.yaml's `secure_cookies` (auto: if https)."""
    mode = _services(request).settings.secure_cookies
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


def _set_cookie(
    response: Response, request: Request, name: str, value: str, *, max_age: int | None
) -> None:
    """Every cookie of the pages: for /ui only, never to scripts, never cross-site."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def set_session(response: Response, request: Request, *, token: str) -> None:
    """Start a browser session with `token`; the sign-in form's CSRF cookie is renewed too."""
    _set_cookie(response, request, SESSION_COOKIE, token, max_age=None)  # ends with the browser
    renew_csrf(response, request)


def clear_session(response: Response, request: Request | None = None) -> None:
    """Forget the session cookie (with the request: its deletion has the cookie's Secure flag)."""
    response.delete_cookie(
        SESSION_COOKIE,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request is not None and _secure(request),
    )


def end_session(response: Response, request: Request) -> None:
    """Sign out in the browser: the session cookie deleted, the sign-in form's CSRF renewed."""
    clear_session(response, request)
    renew_csrf(response, request)


def session_csrf(key: bytes, token_id: str) -> str:
    """The CSRF token of the session whose token has id `token_id` (64 hex digits)."""
    return hmac.new(key, b"csrf:" + token_id.encode(), hashlib.sha256).hexdigest()


def _session_token_id(request: Request) -> str | None:
    """The token id of the session this request carries, if its token is valid."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        return decode_token(token, key=_services(request).signing_key).token_id
    except InvalidTokenError:
        return None


def mark_sign_in_form(request: Request) -> None:
    """This page's form is the sign-in form: it carries the pre-session token, session or not."""
    request.state.sign_in_form = True


def csrf_token(request: Request) -> str:
    """The token this page's forms carry: the session's, or the pre-session cookie's value.

    A new pre-session value is set on the response by `render` (`remember_csrf`).
    """
    if not getattr(request.state, "sign_in_form", False):
        token_id = _session_token_id(request)
        if token_id is not None:
            return session_csrf(_services(request).signing_key, token_id)
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
        _set_cookie(response, request, CSRF_COOKIE, fresh, max_age=_YEAR_S)


def renew_csrf(response: Response, request: Request) -> None:
    """A new pre-session CSRF cookie: a value planted or seen before is no longer accepted."""
    _set_cookie(response, request, CSRF_COOKIE, secrets.token_hex(32), max_age=_YEAR_S)


def remember_language(response: Response, request: Request, language: str) -> None:
    if request.cookies.get(LANG_COOKIE) != language:
        _set_cookie(response, request, LANG_COOKIE, language, max_age=_YEAR_S)


def _same(expected: str, sent: str) -> bool:
    # As bytes: compare_digest refuses str with non-ASCII characters (a 500, not a 403).
    return hmac.compare_digest(expected.encode(), sent.encode())


def _refuse() -> CsrfError:
    return CsrfError(
        "the form is out of date or was sent from another site; reload the page and try again"
    )


def check_sign_in_csrf(request: Request, sent: str) -> None:
    """The sign-in form's token must equal the pre-session CSRF cookie (double submit)."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not (_CSRF_SHAPE.match(cookie) and _same(cookie, sent)):
        raise _refuse()


def check_session_csrf(key: bytes, token_id: str, sent: str) -> None:
    """A signed-in form's token must be its session's (`session_csrf`)."""
    if not (token_id and _same(session_csrf(key, token_id), sent)):
        raise _refuse()
