"""Helpers for the page session tests: tokens of a page session made for any age (with the
clock they name, so nothing waits for time), pages requested with one as the cookie, what an
answer renewed it with, the session clock a page carries, and a Chromium page whose session
cookie the test sets and swaps.
"""

from __future__ import annotations

import re
import time
import uuid
from types import SimpleNamespace
from typing import Any

import jwt
from fastapi.testclient import TestClient
from sqlalchemy import select

from serving.core.security import TokenClaims, decode_token
from serving.db.models import User
from tests.serving.helpers import Service
from tests.web import live

MINUTE, HOUR = 60, 3600
CLOCK = re.compile(
    r'<dialog id="session-warning"[^>]*data-ends-in="(\d+)" data-warn-before="(\d+)"'
    r'( data-final="true")?'
)


def session_token(
    web: Service, username: str, *, signed_in_ago_s: float, issued_ago_s: float, **same: Any
) -> str:
    """A page session's token as the service makes them: signed in `signed_in_ago_s` ago,
    this token (a renewal, unless the two ages are equal) issued `issued_ago_s` ago.

    `same`: the claims of an earlier token of the session to keep (token_id).
    """
    settings, now = web.services.settings, time.time()
    with web.services.sessions() as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one()
    signed_in, issued = int(now - signed_in_ago_s), int(now - issued_ago_s)
    bound = signed_in + int(settings.session_max_hours * HOUR)
    claims = {
        "sub": str(user.id), "name": username, "role": user.role, "region": user.region,
        "iat": issued, "nbf": issued,
        "exp": min(issued + int(settings.token_ttl_minutes * MINUTE), bound),
        "jti": same.get("token_id", uuid.uuid4().hex), "auth_time": signed_in,
        "session_exp": bound,
    }  # fmt: skip
    return jwt.encode(claims, web.services.signing_key, algorithm="HS256")


def session_get(web: Service, path: str, token: str, **headers: str) -> Any:
    """`path` requested with `token` as the session cookie (a client of its own)."""
    client = TestClient(web.app, base_url="http://127.0.0.1")
    return client.get(
        path, headers={"Cookie": f"shanyraq_session={token}", **headers}, follow_redirects=False
    )


def session_cookies(answer: Any) -> list[str]:
    """The session cookies an answer set (none when it neither renewed nor cleared one)."""
    return [c for c in answer.headers.get_list("set-cookie") if c.startswith("shanyraq_session=")]


def renewed_token(answer: Any) -> str:
    """The session token an answer renewed the cookie with (exactly one)."""
    cookies = session_cookies(answer)
    assert len(cookies) == 1, answer.headers.get_list("set-cookie")
    value = cookies[0].split(";", 1)[0].split("=", 1)[1]
    assert value, "the cookie was cleared, not renewed"
    return value


def token_claims(web: Service, token: str) -> TokenClaims:
    """A token's claims, checked with the service's key as the service checks them."""
    return decode_token(token, key=web.services.signing_key)


def page_clock(html: str) -> tuple[int, int, bool]:
    """The session clock a page carries: seconds until its session ends, seconds before that
    to warn, and whether the end is final (the bound after sign-in)."""
    found = CLOCK.search(html)
    assert found, "the page carries no session clock"
    return int(found.group(1)), int(found.group(2)), bool(found.group(3))


def session_page(browser: Any, server: live.LiveServer, token: str) -> Any:
    """A page with `token` as its session cookie and Playwright's clock in place of time."""
    context = browser.new_context(locale="en-GB")
    host = server.url.split("//", 1)[1].split(":", 1)[0]
    cookie = {"name": "shanyraq_session", "value": token, "domain": host, "path": "/ui"}
    context.add_cookies([{**cookie, "httpOnly": True, "sameSite": "Strict"}])
    page = context.new_page()
    page.clock.install()
    return page


def live_token(server: live.LiveServer, username: str = "commission", **ages: Any) -> str:
    """`session_token` for a live server's service; `ages` as session_token takes them."""
    return session_token(SimpleNamespace(services=server.app.state.services), username, **ages)


def swap_session_cookie(page: Any, token: str) -> None:
    """Time has passed for the server too: the session's token is `token` now."""
    cookie = next(c for c in page.context.cookies() if c["name"] == "shanyraq_session")
    page.context.add_cookies([{**cookie, "value": token}])


def dialog_open(page: Any) -> bool:
    """Whether the page shows its session warning now."""
    return bool(page.evaluate("document.getElementById('session-warning').open"))
