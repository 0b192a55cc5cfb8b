"""Security review of accounts and page sessions (helper-190): what the other tests left open.

Look-alike names against the account's sign-in limit, the argon2 work an unknown name costs,
the production hash parameters, a disabled account's token and cookie, a planted session
at sign-in, `next` addresses a browser would read as another site, and the CSRF check of
sign-out everywhere and the password change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.serving.helpers import PASSWORD, started
from tests.web.helpers import csrf_from, sign_in

BASE = "http://127.0.0.1"
LIMITS = {"login_per_minute": 100, "login_per_account": 3, "login_account_window_minutes": 15}


def _login(client: Any, username: str, password: str) -> Any:
    return client.post("/auth/token", data={"username": username, "password": password})


def _session_cookie(answer: Any) -> str:
    for value in answer.headers.get_list("set-cookie"):
        if value.startswith("shanyraq_session="):
            return str(value.split(";")[0].split("=", 1)[1])
    return ""


@pytest.mark.parametrize(
    "look_alike",
    ["ｃｏｍｍｉｓｓｉｏｎ", "commiſſion", "COMMISSION", "commission\u00a0", "\tcommission"],
)
def test_a_look_alike_of_a_limited_name_never_signs_the_account_in(tmp_path: Path, look_alike):
    with started(tmp_path, rate_limits=LIMITS) as service:
        for _ in range(3):
            assert _login(service.client, "commission", "wrong guess 1").status_code == 401
        # The right password under a case, space or Unicode variant of the name: either the
        # same limit (429) or no account at all (401), never a sign-in past the limit.
        assert _login(service.client, look_alike, PASSWORD).status_code in (401, 429)
        assert _login(service.client, "commission", PASSWORD).status_code == 429


class _CountingHasher:
    """The test hasher, counting the argon2 verifications it does."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.verified = 0

    def verify(self, stored: str, password: str) -> bool:
        self.verified += 1
        return bool(self.inner.verify(stored, password))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_an_unknown_name_costs_the_same_argon2_work_as_a_wrong_password(tmp_path, monkeypatch):
    from serving.core import security

    counting = _CountingHasher(security._HASHER)
    monkeypatch.setattr(security, "_HASHER", counting)
    with started(tmp_path) as service:
        for name in ("commission", "ghost", "x" * 300, "nul\x00name"):
            before = counting.verified
            assert _login(service.client, name, "wrong guess 1").status_code == 401, name
            assert counting.verified - before == 1, name


def test_new_hashes_are_argon2id_at_least_at_owasps_minimum_cost():
    from argon2 import Type, extract_parameters

    from serving.core import security

    # Made at import with the service's own hasher (the tests' cheap one is patched in later).
    parameters = extract_parameters(security._DUMMY_HASH)
    assert parameters.type is Type.ID
    assert parameters.memory_cost >= 19 * 1024 and parameters.time_cost >= 2


def test_a_disabled_accounts_token_and_page_cookie_are_refused(tmp_path: Path):
    from serving.db.models import User

    with started(tmp_path) as service:
        assert sign_in(service.client, "commission", PASSWORD).status_code == 303
        assert service.client.get("/ui/families", follow_redirects=False).status_code == 200
        with service.services.sessions() as session:
            session.execute(update(User).where(User.username == "commission").values(active=False))
            session.commit()
        api = service.client.get("/auth/me", headers=service.headers("commission"))
        assert api.status_code == 401 and api.json()["code"] == "token_invalid"
        page = service.client.get("/ui/families", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/ui/login")
        assert any(
            value.startswith('shanyraq_session=""') for value in page.headers.get_list("set-cookie")
        )  # cleared, not renewed


def test_sign_in_replaces_a_planted_session_with_a_new_one(tmp_path: Path):
    from serving.core.security import decode_token

    with started(tmp_path) as service:
        key = service.services.signing_key
        attacker = TestClient(service.app, base_url=BASE)
        planted = _session_cookie(sign_in(attacker, "inspector", PASSWORD))
        planted_csrf = csrf_from(attacker.get("/ui/").text)
        victim = TestClient(service.app, base_url=BASE)
        victim.cookies.set("shanyraq_session", planted, domain="127.0.0.1", path="/ui")
        assert victim.get("/ui/upload", follow_redirects=False).status_code == 200  # planted
        fresh = _session_cookie(sign_in(victim, "commission", PASSWORD))
        claims, old = decode_token(fresh, key=key), decode_token(planted, key=key)
        assert claims.username == "commission" and claims.token_id != old.token_id
        assert csrf_from(victim.get("/ui/").text) != planted_csrf
        # The planted token no longer opens anything: the victim's sign-in over it signed it
        # out (serving.web.routes.auth: a sign-in ends the session it replaces).
        refused = attacker.get("/ui/families", follow_redirects=False)
        assert refused.status_code == 303 and "/ui/login" in refused.headers["location"]


@pytest.mark.parametrize(
    "target",
    [
        "/\\evil.example",
        "\\\\evil.example",
        "https:evil.example",
        "https:/evil.example",
        "%2F%2Fevil.example",
        "/%2F%2Fevil.example",
        "/ui/%2F%2Fevil.example",
        "/ui/%5C%5Cevil.example",
        "/ui/\\/evil.example",
        "/ui/\t/evil.example",
        "/\t/evil.example",
        "/ui/../..//evil.example",
        "/ui@evil.example",
        " //evil.example",
    ],
)
def test_no_next_address_leads_a_browser_off_the_site(tmp_path: Path, target: str):
    with started(tmp_path) as service:
        page = service.client.get("/ui/login")
        answer = service.client.post(
            "/ui/login",
            data={"username": "admin", "password": PASSWORD, "next": target,
                  "csrf_token": csrf_from(page.text)},
            follow_redirects=False,
        )  # fmt: skip
        assert answer.status_code == 303
        # As a browser reads it: tabs and line breaks dropped, a backslash is a slash.
        location = answer.headers["location"].replace("\\", "/")
        location = "".join(c for c in location if c not in "\t\r\n")
        resolved = urlsplit(urljoin(BASE + "/ui/login", location))
        assert (resolved.scheme, resolved.netloc) == ("http", "127.0.0.1"), location
        assert resolved.path.startswith("/ui/"), location


@pytest.mark.parametrize("path", ["/ui/logout", "/ui/logout-all", "/ui/password"])
def test_state_changing_posts_want_this_sessions_csrf_token(tmp_path: Path, path: str):
    form = {"current_password": PASSWORD, "new_password": "a new long password",
            "new_password_again": "a new long password"}  # fmt: skip
    with started(tmp_path) as service:
        victim = TestClient(service.app, base_url=BASE)
        sign_in(victim, "commission", PASSWORD)
        other = TestClient(service.app, base_url=BASE)
        sign_in(other, "commission", PASSWORD)  # the same account's other session
        other_csrf = csrf_from(other.get("/ui/").text)
        for sent in ("", "0" * 64, other_csrf):
            answer = victim.post(path, data={**form, "csrf_token": sent}, follow_redirects=False)
            assert answer.status_code == 403, sent
        for client in (victim, other):  # nobody signed out, the password unchanged
            assert client.get("/ui/", follow_redirects=False).status_code == 200
        assert _login(service.client, "commission", PASSWORD).status_code == 200
