"""Rendering pages: one Jinja2 environment, the page context every template gets, safe headers."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from serving.api.deps import CurrentUser
from serving.web.i18n import LANGUAGE_NAMES, LANGUAGES, negotiate, translator
from serving.web.session import (
    CSRF_FIELD,
    LANG_COOKIE,
    PREFIX,
    csrf_token,
    remember_csrf,
    remember_language,
)

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
STATIC_URL = f"{PREFIX}/static"

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
    return env


def page_language(request: Request) -> str:
    return negotiate(
        requested=request.query_params.get("lang"),
        cookie=request.cookies.get(LANG_COOKIE),
        accept_language=request.headers.get("accept-language"),
    )


def render(
    request: Request,
    template: str,
    *,
    user: CurrentUser | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The page as HTML, in the reader's language, with the CSRF token and safe headers."""
    language = page_language(request)
    t = translator(language)
    html = (
        environment()
        .get_template(template)
        .render(
            request_path=request.url.path,
            t=t,
            lang=language,
            languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            user=user,
            csrf=csrf_token(request),
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    remember_csrf(response, request)
    if request.query_params.get("lang") == language:  # only an explicit choice is remembered
        remember_language(response, request, language)
    return response
