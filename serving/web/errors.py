"""Errors on pages: the API's error mapping stays, but under /ui people get an HTML page.

The same domain errors (`not_found` from a region scope, `forbidden` from a policy ...) are
raised for pages and for the API; only the answer's form differs. An unsigned-in reader is
sent to the sign-in page and brought back afterwards: to the same address after a page view,
to the form's page (marked `unsent`) after a form post, which was not recorded. A body over
the size limit gets the HTML page too (`serving.api.body_limit` answers before the app), which
names the limit in megabytes (`serving.web.units`, as the upload page does); its refusal is
audited with the session cookie's reader, the one the page's menu shows (looked up once).

The error's English message is a detail for English readers only; others read the title and
help of its status, or the text of its code where the catalogues have one (`error_reason.*`).
A refusal by role names the roles the page admits, in the reader's words, and nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote, quote_from_bytes, unquote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.api.body_limit import answer_refusals
from serving.api.deps import CurrentUser, accepted_claims, get_current_user
from serving.api.errors import log_unexpected, server_error_level
from serving.errors import (
    BodyTooLargeError,
    RateLimitedError,
    RoleRefusedError,
    UnavailableError,
)
from serving.web.i18n import translator
from serving.web.render import UNSENT, form_page, page_language, render
from serving.web.routes.auth import NEXT_MAX_CHARS, safe_next
from serving.web.session import (
    PREFIX,
    SESSION_COOKIE,
    CookieAuth,
    clear_session,
    is_page_path,
    request_cookies,
)
from serving.web.units import megabytes
from shanyraq.errors import ShanyraqError

logger = logging.getLogger(__name__)

Handler = Callable[[Request, Exception], Awaitable[Response] | Response]
Viewer = Callable[[Request], CurrentUser | None]


def _status_and_message(exc: Exception) -> tuple[int, str, str]:
    if isinstance(exc, ShanyraqError):
        return exc.http_status, exc.code, exc.message
    if isinstance(exc, RequestValidationError):
        problems = [
            f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}" for e in exc.errors()
        ]
        return 422, "request_invalid", "; ".join(problems[:5])
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code, "http_error", str(exc.detail)
    return 500, "internal_error", ""


def _viewer(request: Request) -> CurrentUser | None:
    """Who is signed in, if anyone, so an error page still shows their menu (best effort).

    Where the route's sign-in check accepted the session before the error (a family out of
    region, a role refused), its reader, not looked up again: the claims it accepted name the
    account as it checked it (an account's role and region never change: serving.users).
    Elsewhere (no such page, a check that failed) the session cookie's, looked up here.
    """
    claims = accepted_claims(request)
    if claims is not None:
        return CurrentUser(
            id=claims.user_id, username=claims.username, role=claims.role, region=claims.region,
            token_id=claims.token_id, token_expires_at=claims.session_expires_at,
        )  # fmt: skip
    token = request_cookies(request).get(SESSION_COOKIE)
    services = getattr(request.app.state, "services", None)
    if not token or services is None:
        return None
    try:
        return get_current_user(services, token)
    except ShanyraqError:
        return None
    except Exception:  # the database may be what failed: the page is shown all the same
        logger.warning("the error page of %s shows no signed-in menu", request.url.path)
        return None


# The bytes of an address kept as they came: RFC 3986's reserved characters and the "%" of
# escapes already there; any other byte is escaped. In the query "/" and the backslash are
# escaped too ("%2F" reads the same to the page), or a filter typed with "//" would fail
# `safe_next`, and the way back with it.
_PATH_KEEPS = "/%:@!$&'()*+,;="
_QUERY_KEEPS = "%:@!$&'()*+,;=?"


def _this_address(request: Request) -> str:
    """This request's address as it was sent: from the raw path, not the decoded one, where
    an escaped "/", "%" or "?" (in an id, in search text) would lead elsewhere."""
    raw = request.scope.get("raw_path")
    path = request.url.path  # where the raw path is missing, or is not what the app routed
    if isinstance(raw, bytes) and unquote(raw.decode("latin-1")) == request.scope["path"]:
        path = quote_from_bytes(raw, safe=_PATH_KEEPS)
    query = quote_from_bytes(request.scope.get("query_string", b""), safe=_QUERY_KEEPS)
    return path + (f"?{query}" if query else "")


def _back_after_sign_in(request: Request) -> str | None:
    """Where sign-in leads back to: this address for a page view (filters kept), the form's
    page marked `unsent` for a form post; None where that is no safe page address."""
    if request.method in ("GET", "HEAD"):
        target: str | None = _this_address(request)
    else:
        page = form_page(request)
        target = f"{page}?{UNSENT}=1" if page else None
    if target is None or len(target) > NEXT_MAX_CHARS:
        return None
    return safe_next(target)


def _roles_allowed(request: Request, exc: Exception) -> str:
    """Who may open the page, in the reader's words, for a refusal by role ("" otherwise)."""
    if not isinstance(exc, RoleRefusedError):
        return ""
    t = translator(page_language(request))
    return t("error.roles_allowed", roles=", ".join(t.label("role", r) for r in exc.roles))


def page_error(
    request: Request, exc: Exception, *, limit: str = "", viewer: Viewer = _viewer
) -> Response:
    """The HTML answer to an error on a page; `limit`: the limit it passed, in words;
    `viewer`: who is signed in, for the page's menu (by default looked up from the cookie)."""
    status, code, message = _status_and_message(exc)
    if status == 401:
        back = _back_after_sign_in(request)
        target = f"?next={quote(back, safe='/')}" if back else ""
        response = RedirectResponse(f"{PREFIX}/login{target}", status_code=303)
        if code == "token_invalid":
            clear_session(response, request)  # expired or revoked: forget it
        return response
    if status >= 500:
        level = server_error_level(exc)  # as the API logs it: once, a passing 503 a warning
        if code == "internal_error":  # unexpected: its traceback, once, as the API's
            log_unexpected(request, exc)
        elif level is not None:
            logger.log(level, "page %s failed: %s %s", request.url.path, code, message or repr(exc))
        message = ""  # no internals on the page; the log has them
    roles_allowed = _roles_allowed(request, exc)
    if roles_allowed:
        message = ""  # the English message only says it again
    page = render(
        request,
        "error.html",
        user=viewer(request),
        status_code=status,
        status=status,
        code=code,
        message=message,
        roles_allowed=roles_allowed,
        limit=limit,
    )
    # As the API says it (serving.api.errors): when to try again, after a 429 or a busy
    # model's 503; a 503 that waits for an administrator has no retry_after_s, and no header.
    retry_after = (
        exc.retry_after_s if isinstance(exc, RateLimitedError | UnavailableError) else None
    )
    if retry_after is not None:
        page.headers["Retry-After"] = str(retry_after)
    return page


def _wrap(original: Handler) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        if is_page_path(request.url.path):
            return page_error(request, exc)
        answer = original(request, exc)
        return await answer if isinstance(answer, Awaitable) else answer

    return handler


def _too_large_page(max_bytes: int, sender: CurrentUser | None) -> ASGIApp:
    """The 413 page for a page's form post over the body limit (e.g. many photos at once);
    `sender`: who the refusal's audit found signed in (`_viewer`), whose menu it shows."""
    refused = BodyTooLargeError(
        f"the request is larger than {max_bytes} bytes; send fewer photos at a time"
    )

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        t = translator(page_language(request))
        limit = t("error.body_limit", mb=t.number(megabytes(max_bytes)))
        response = page_error(request, refused, limit=limit, viewer=lambda _: sender)
        await response(scope, receive, send)

    # Through CookieAuth, as the app's requests go: the page is the signed-in reader's own.
    return CookieAuth(answer)


def install_page_errors(app: FastAPI) -> None:
    """Wrap the API's handlers (installed first) so /ui paths answer with pages."""
    for kind in (ShanyraqError, RequestValidationError, StarletteHTTPException, Exception):
        original = app.exception_handlers.get(kind)
        if original is None:
            raise RuntimeError(f"install the API's error handlers before the pages' ({kind})")
        app.add_exception_handler(kind, _wrap(original))
    answer_refusals(app, matches=is_page_path, answer=_too_large_page, reader=_viewer)
