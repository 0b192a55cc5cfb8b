"""Errors on pages: the API's error mapping stays, but under /ui people get an HTML page.

The same domain errors (`not_found` from a region scope, `forbidden` from a policy ...) are
raised for pages and for the API; only the answer's form differs. An unsigned-in reader is
sent to the sign-in page and brought back afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.api.deps import CurrentUser, get_current_user
from serving.web.render import render
from serving.web.session import PREFIX, SESSION_COOKIE, clear_session, is_page_path
from shanyraq.errors import ShanyraqError

logger = logging.getLogger(__name__)

Handler = Callable[[Request, Exception], Awaitable[Response] | Response]


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
    """Who is signed in, if anyone, so an error page still shows their menu (best effort)."""
    token = request.cookies.get(SESSION_COOKIE)
    services = getattr(request.app.state, "services", None)
    if not token or services is None:
        return None
    try:
        return get_current_user(services, token)
    except ShanyraqError:
        return None


def page_error(request: Request, exc: Exception) -> Response:
    """The HTML answer to an error on a page."""
    status, code, message = _status_and_message(exc)
    if status == 401:
        target = quote(request.url.path, safe="/")
        response = RedirectResponse(f"{PREFIX}/login?next={target}", status_code=303)
        if code == "token_invalid":
            clear_session(response)  # expired or revoked: forget it
        return response
    if status >= 500:
        logger.error("page %s failed: %s %s", request.url.path, code, message or repr(exc))
        message = ""  # no internals on the page; the log has them
    return render(
        request,
        "error.html",
        user=_viewer(request),
        status_code=status,
        status=status,
        code=code,
        message=message,
    )


def _wrap(original: Handler) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        if is_page_path(request.url.path):
            return page_error(request, exc)
        answer = original(request, exc)
        return await answer if isinstance(answer, Awaitable) else answer

    return handler


def install_page_errors(app: FastAPI) -> None:
    """Wrap the API's handlers (installed first) so /ui paths answer with pages."""
    for kind in (ShanyraqError, RequestValidationError, StarletteHTTPException, Exception):
        original = app.exception_handlers.get(kind)
        if original is None:
            raise RuntimeError(f"install the API's error handlers before the pages' ({kind})")
        app.add_exception_handler(kind, _wrap(original))
