"""The browser session: the API's signed token in an HttpOnly cookie, and the CSRF tokens.

Pages reuse the API's access rules unchanged: `CookieAuth` hands the session cookie of a
request under /ui to the API's bearer dependency as an Authorization header, so `policy(...)`,
`CurrentUserDep` and the `*InScope` dependencies decide for pages exactly as for the API.
The cookie is sent only to /ui paths (its Path) and never cross-site (SameSite=Strict); the
API under other paths still needs an explicit bearer header, so it gains no ambient login.
It has no Max-Age: closing the browser ends it, and the token's own expiry bounds it anyway.

A session is renewed while it is used (`renewal`): a page request that passed the sign-in
check more than half-way through its token's lifetime gets the session's next token in the
cookie, with the same session id (jti) and sign-in time, so open forms stay valid, a
sign-out (which revokes that id) ends every token of the session, and so does a sign-out
everywhere (which compares the sign-in time). A session left idle ends when its token does;
however active, it ends `session_max_hours` after its sign-in, a password change on the way
included (the session it goes on with keeps the bound: `set_session`). Renewals are not
audited: they grant no new access (same account, same session, within the sign-in's bound),
the sign-in itself is (`login`), and so is every page the session opens.

Every form post carries a CSRF token. A signed-in form's token is bound to the session: an
HMAC of its token id (jti) with the signing key, as in OWASP's signed double submit, checked
against the session itself, so no cookie an attacker plants can stand in for it, and a new
session (a password change included) gets a new one. The sign-in form has no session yet: its
token must equal a random CSRF cookie (double submit), and that cookie is replaced whenever a
session starts or ends; a sign-in form left open meanwhile is refused, and shown again.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Iterable

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.api.deps import accepted_claims, get_current_user
from serving.core.config import ServingSettings
from serving.core.security import (
    TokenClaims,
    decode_token,
    encode_session_token,
    reissue_token,
    reissued_claims,
)
from serving.errors import InvalidTokenError
from serving.state import Services
from shanyraq.errors import ShanyraqError

logger = logging.getLogger(__name__)

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


def _is_bearer(value: bytes) -> bool:
    return value.split(b" ", 1)[0].lower() == b"bearer"


def _cookies_in(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    raw = b"; ".join(value for name, value in headers if name == b"cookie")
    return cookie_parser(raw.decode("latin-1"))


def request_cookies(request: Request) -> dict[str, str]:
    """The request's cookies, from every Cookie header (HTTP/2 may send each cookie in one of
    its own; Starlette before 0.49 reads only the first): every reader of the pages' cookies
    uses this, so all agree with `CookieAuth` on which session the request carries."""
    return _cookies_in(request.scope["headers"])


class CookieAuth:
    """ASGI middleware: under /ui, the session cookie stands in for a missing bearer header,
    and the answer renews the cookie when the session is due for it (`renewal`).

    Another kind of Authorization header (a proxy's HTTP Basic login in front of the site,
    which the browser sends with every request) signs nobody in here: the cookie replaces it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_page_path(scope["path"]):
            headers = list(scope["headers"])
            if not any(name == b"authorization" and _is_bearer(v) for name, v in headers):
                token = _cookies_in(headers).get(SESSION_COOKIE)
                if token:
                    headers = [(name, v) for name, v in headers if name != b"authorization"]
                    headers.append((b"authorization", b"Bearer " + token.encode("latin-1")))
                    # The state is made here, so the routes' request shares it with the send.
                    scope = {**scope, "headers": headers, "state": scope.get("state", {})}
                    send = _renewing(scope, send, token)
        await self.app(scope, receive, send)


def _renewing(scope: Scope, send: Send, token: str) -> Send:
    """`send`, adding the session's next token to the answer's start when one is due.

    Only the claims the sign-in check accepted on this request are renewed (none: nothing
    is), so a token that is expired, revoked or signed out everywhere never is; nor is the
    cookie of an answer that sets or clears it itself (sign-in, sign-out, a refusal). The
    session is checked again before: a sign-in or password change in another tab may have
    ended it meanwhile, and the renewal would replace that answer's new cookie. An answer
    whose due renewal is not made says so, with the session's real clock
    (`session_clock.tell_skipped_renewal`): what the route told counted on the renewal; a
    page's body, rendered with the renewed clock, is corrected to the real one.
    """

    out = send  # the skipped renewal of a page's answer corrects its body (tell_skipped_renewal)

    async def send_renewed(message: Message) -> None:
        nonlocal out
        if message["type"] == "http.response.start":
            request = Request(scope)
            claims = accepted_claims(request)
            headers = MutableHeaders(scope=message)
            touched = any(
                value.startswith(SESSION_COOKIE + "=") for value in headers.getlist("set-cookie")
            )
            if claims is not None and not touched:
                services = _services(request)
                renewed_token = renewal(claims, services.settings, key=services.signing_key)
                if renewed_token is not None:
                    signed_in = await run_in_threadpool(_signed_in, services, token)
                    if signed_in:
                        renewed = Response()
                        _set_session_cookie(renewed, request, renewed_token)
                        for value in renewed.headers.getlist("set-cookie"):
                            headers.append("set-cookie", value)
                    else:
                        # Imported here: session_clock builds on this module.
                        from serving.web.session_clock import tell_skipped_renewal

                        out = tell_skipped_renewal(headers, request, send, ended=signed_in is False)
        await out(message)

    return send_renewed


def _signed_in(services: Services, token: str) -> bool | None:
    """Whether `token` still passes the sign-in check; None when it cannot be made."""
    try:
        get_current_user(services, token)
    except ShanyraqError:
        return False
    except Exception:  # the database may be failing: the answer goes out, not renewed
        logger.warning("a page session was not renewed: its check failed", exc_info=True)
        return None
    return True


def _session_bound(claims: TokenClaims, settings: ServingSettings) -> float:
    """When the session of `claims` ends at the latest: `session_max_hours` after sign-in."""
    return claims.signed_in_at + settings.session_max_hours * 3600


def renewed_claims(
    claims: TokenClaims, settings: ServingSettings, *, now: float | None = None
) -> TokenClaims | None:
    """The claims of the session's next token, once more than half of this token's lifetime
    has passed.

    None before that, and when a new token would end no later than this one (the session is
    at its bound, or the token is one of the API's, which are not renewed).
    """
    now = time.time() if now is None else now
    if now - claims.issued_at <= (claims.expires_at - claims.issued_at) / 2:
        return None
    ends = min(claims.session_expires_at, _session_bound(claims, settings))
    renewed = reissued_claims(
        claims, ttl_s=settings.token_ttl_minutes * 60, session_expires_at=ends, now=now
    )
    return renewed if renewed.expires_at > claims.expires_at else None


def renewal(
    claims: TokenClaims, settings: ServingSettings, *, key: bytes, now: float | None = None
) -> str | None:
    """The session's next token (`renewed_claims`, signed), or None when none is due."""
    renewed = renewed_claims(claims, settings, now=now)
    return None if renewed is None else encode_session_token(renewed, key=key)


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


def _set_session_cookie(response: Response, request: Request, token: str) -> None:
    _set_cookie(response, request, SESSION_COOKIE, token, max_age=None)  # ends with the browser


def set_session(
    response: Response, request: Request, *, token: str, continues: TokenClaims | None = None
) -> None:
    """Start a browser session with the sign-in's `token`; the sign-in form's CSRF cookie is
    renewed too.

    The cookie holds the same session's token bound to end `session_max_hours` after the
    sign-in at the latest, which renewals carry on (`renewal`). A session that `continues`
    another (a password change: a new token, a new id, the other sessions signed out) keeps
    that one's bound, counted from its sign-in, so a change never extends it. Its own
    sign-in time is the new token's, which is what lets it outlive the change's sign-out of
    every other session.
    """
    services = _services(request)
    claims = decode_token(token, key=services.signing_key)
    session_token = reissue_token(
        claims,
        key=services.signing_key,
        ttl_s=claims.expires_at - claims.issued_at,
        session_expires_at=_session_bound(continues or claims, services.settings),
        now=claims.issued_at,
    )
    _set_session_cookie(response, request, session_token)
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
    """The token id of the session this request carries, if its token is valid.

    The sign-in check's claims when it ran on this request (a page); else (an error page)
    the token decoded here.
    """
    claims = accepted_claims(request)
    if claims is not None:
        return claims.token_id
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
    existing = request_cookies(request).get(CSRF_COOKIE, "")
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
    if request_cookies(request).get(LANG_COOKIE) != language:
        _set_cookie(response, request, LANG_COOKIE, language, max_age=_YEAR_S)


def _same(expected: str, sent: str) -> bool:
    # As bytes: compare_digest refuses str with non-ASCII characters (a 500, not a 403).
    return hmac.compare_digest(expected.encode(), sent.encode())


def _refuse() -> CsrfError:
    return CsrfError(
        "the form is out of date or was sent from another site; reload the page and try again"
    )


def sign_in_csrf_matches(request: Request, sent: str) -> bool:
    """Whether the sign-in form's token equals the pre-session CSRF cookie (double submit).

    False for a form sent from another site, and for one shown before a sign-in or sign-out
    (in another tab) renewed the cookie.
    """
    cookie = request_cookies(request).get(CSRF_COOKIE, "")
    return bool(_CSRF_SHAPE.match(cookie)) and _same(cookie, sent)


def check_session_csrf(key: bytes, token_id: str, sent: str) -> None:
    """A signed-in form's token must be its session's (`session_csrf`)."""
    if not (token_id and _same(session_csrf(key, token_id), sent)):
        raise _refuse()
