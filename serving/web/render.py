"""Rendering pages: one Jinja2 environment, the page context every template gets, safe headers."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.routing import Match, Mount

from serving.api.deps import CurrentUser
from serving.web.i18n import FALLBACK, LANGUAGE_NAMES, LANGUAGES, negotiate, translator
from serving.web.session import (
    CSRF_FIELD,
    LANG_COOKIE,
    PREFIX,
    csrf_token,
    is_page_path,
    remember_csrf,
    remember_language,
    request_cookies,
)
from serving.web.session_clock import session_clock
from serving.web.times import shown_time

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
STATIC_URL = f"{PREFIX}/static"
# Query parameter of a page reached again after signing in anew: what was sent from it (a form
# post refused for want of a session) was not recorded. serving.web.errors sets it.
UNSENT = "unsent"
# Query parameters that say how to show a page, not which page: left out of its address.
_NOT_THE_PAGE = frozenset({"lang", UNSENT})

# Pages load nothing from elsewhere and run no inline script; plots are data: images.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages carry personal data
}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,  # a missing value is a bug, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(prefix=PREFIX, static=STATIC_URL, csrf_field=CSRF_FIELD)
    # Numbers in the reader's form: the page's translator `t` is in every page's context.
    env.filters["pct"] = jinja2.pass_context(lambda ctx, p: ctx["t"].percent(p))
    env.filters["fixed2"] = jinja2.pass_context(lambda ctx, x: ctx["t"].fixed(x, 2))
    # A count that can run past three digits (families, decisions, audit entries), grouped.
    env.filters["num"] = jinja2.pass_context(lambda ctx, n: ctx["t"].number(n))
    # A stored (UTC) time in the site's zone, in the reader's words: `{{ d.created_at|when }}`.
    env.filters["when"] = jinja2.pass_context(
        lambda ctx, value, seconds=False: shown_time(
            value, t=ctx["t"], zone=ctx["time_zone"], seconds=seconds
        )
    )
    # An audit detail as the stored entry holds it (JSON), text as it is: see `stored_value`.
    env.filters["stored"] = stored_value
    return env


def stored_value(value: Any) -> str:
    """A stored (audit) detail's value as the stored entry spells it: compact JSON with keys
    sorted, as `serving.audit` stores details (`null`, `true`, double quotes), letters kept
    as letters; text as it is. The page escapes what this returns, as any value."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def page_language(request: Request) -> str:
    return negotiate(
        requested=request.query_params.get("lang"),
        cookie=request_cookies(request).get(LANG_COOKIE),
        accept_language=request.headers.get("accept-language"),
    )


def _is_page(request: Request, path: str) -> bool:
    """Whether a GET of `path` reaches a page route (not only a form post's route)."""
    if not is_page_path(path) or path == PREFIX:
        return False
    scope = {
        "type": "http",
        "path": path,
        "method": "GET",
        "root_path": request.scope.get("root_path", ""),
    }
    routes = request.app.router.routes  # static files are a Mount: not a page
    return any(not isinstance(r, Mount) and r.matches(scope)[0] is Match.FULL for r in routes)


def form_page(request: Request) -> str | None:
    """The page a form posted to this path belongs to: the path itself when it is a page too
    (upload, password), else the page above it (a family's decisions: the family); None when
    neither is (sign-out)."""
    path = request.url.path
    for candidate in (path, path.rsplit("/", 1)[0]):
        if _is_page(request, candidate):
            return candidate
    return None


def _address(path: str, query: list[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(query)}" if query else path


def here(request: Request, **query: str) -> str:
    """This answer's page with `query` added: for a GET its own address (filters kept, how
    it is shown left out), for a form post the page of the form (the start page if none)."""
    if request.method in ("GET", "HEAD"):
        path = request.url.path
        kept = [(k, v) for k, v in request.query_params.multi_items() if k not in _NOT_THE_PAGE]
    else:
        path, kept = form_page(request) or f"{PREFIX}/", []
    return _address(path, [*kept, *query.items()])


def _time_zone(request: Request) -> ZoneInfo:
    """The zone times are shown in: the site's setting (UTC before the services start)."""
    services = getattr(request.app.state, "services", None)
    return services.settings.display_zone if services is not None else ZoneInfo("UTC")


def render(
    request: Request,
    template: str,
    *,
    user: CurrentUser | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The page as HTML, in the reader's language, with the CSRF token and safe headers.

    `status_code` is in the page's context too: an answer of 400 or more (an error page, a
    refused form) has a title that starts with "Error: " in the reader's language.
    """
    language = page_language(request)
    t = translator(language)
    html = (
        environment()
        .get_template(template)
        .render(
            request_path=request.url.path,
            t=t,
            lang=language,
            languages=[
                (code, LANGUAGE_NAMES[code], here(request, lang=code)) for code in LANGUAGES
            ],
            # Service messages (ShanyraqError.message) are English: shown to English readers
            # as details; others read the catalogue's text for the error's code.
            service_messages=language == FALLBACK,
            unsent=request.method == "GET" and request.query_params.get(UNSENT) == "1",
            user=user,
            csrf=csrf_token(request),
            session_clock=session_clock(request),  # the session warning's (base.html)
            status_code=status_code,
            time_zone=_time_zone(request),
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    remember_csrf(response, request)
    if request.query_params.get("lang") == language:  # only an explicit choice is remembered
        remember_language(response, request, language)
    return response
