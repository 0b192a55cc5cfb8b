"""A password change on the pages keeps the session's bound: the session it continues still
ends `session_max_hours` after the original sign-in (renewals included), while every other
session of the account ends as before."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from fastapi.testclient import TestClient

from serving.core.security import TokenClaims, decode_token, encode_session_token
from serving.web.session import SESSION_COOKIE, renewed_claims, session_csrf
from tests.serving.helpers import PASSWORD

MINUTE, HOUR = 60, 3600
NEW_PASSWORD = "a brand new pass phrase"


def _client(web: Any, token: str) -> TestClient:
    client = TestClient(web.app, base_url="http://127.0.0.1")
    client.cookies.set(SESSION_COOKIE, token, domain="127.0.0.1", path="/ui")
    return client


def _session_cookie(answer: Any) -> str:
    (cookie,) = [c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)]
    return str(cookie.split(";", 1)[0].split("=", 1)[1])


def test_a_password_change_keeps_the_bound_of_the_original_sign_in(web, browser_for):
    settings, key = web.services.settings, web.services.signing_key
    signed_in = browser_for("commission")
    elsewhere = browser_for("commission")  # another device of the same account
    # The first session, as it stands 11.5 hours after its sign-in (renewed since: its token
    # was issued 5 minutes ago), so its bound is 30 minutes away.
    now = time.time()
    fresh = decode_token(signed_in.cookies[SESSION_COOKIE], key=key)
    sign_in_s = int(now - 11.5 * HOUR)
    bound = sign_in_s + int(settings.session_max_hours * HOUR)
    aged: TokenClaims = replace(
        fresh, signed_in_at=sign_in_s, issued_at=int(now - 5 * MINUTE),
        expires_at=float(min(int(now - 5 * MINUTE) + settings.token_ttl_minutes * MINUTE, bound)),
        session_expires_at=float(bound),
    )  # fmt: skip
    aged_token = encode_session_token(aged, key=key)
    client = _client(web, aged_token)

    answer = client.post(
        "/ui/password",
        data={"current_password": PASSWORD, "new_password": NEW_PASSWORD,
              "new_password_again": NEW_PASSWORD,
              "csrf_token": session_csrf(key, aged.token_id)},
        follow_redirects=False,
    )  # fmt: skip

    assert answer.status_code == 303, answer.text
    changed = decode_token(_session_cookie(answer), key=key)
    assert changed.session_expires_at == bound  # counted from the sign-in, not the change
    assert changed.expires_at <= bound
    assert changed.token_id != aged.token_id  # a new token id: a new CSRF token
    # However it is used, no renewal carries it past the bound.
    for at in (changed.issued_at + 20 * MINUTE, bound - 1):
        renewed = renewed_claims(changed, settings, now=at)
        assert renewed is None or renewed.expires_at <= bound
    # It works; the account's other sessions and tokens end, as on any password change.
    assert _client(web, _session_cookie(answer)).get("/ui/families").status_code == 200
    gone = elsewhere.get("/ui/families", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/ui/login")
    assert _client(web, aged_token).get("/ui/families", follow_redirects=False).status_code == 303
    assert web.client.get("/families", headers=web.headers("commission")).status_code == 401
