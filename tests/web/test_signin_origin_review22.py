"""Review 22: a form post sent from another site, a sibling subdomain included, is refused by
the browser's own word (Sec-Fetch-Site; else Origin), the sign-in's first of all: SameSite
cookies let a sibling site plant the sign-in form's CSRF cookie ("login CSRF")."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from serving.db.models import AuditEntry
from serving.web.i18n import load_catalogues
from serving.web.session import SESSION_COOKIE
from tests.serving.helpers import PASSWORD
from tests.web.helpers import csrf_from

EN = load_catalogues()["en"]


def _fresh(web: Any) -> Any:
    client = TestClient(web.app, base_url="http://127.0.0.1")
    client.cookies.set("shanyraq_lang", "en", path="/ui")
    return client


def _logins(web: Any) -> int:
    with web.services.sessions() as session:
        return session.execute(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "login")
        ).scalar_one()


def _sign_in(client: Any, headers: dict[str, str], password: str = PASSWORD) -> Any:
    """A sign-in form post with a valid cookie/token pair, and `headers`."""
    token = csrf_from(client.get("/ui/login").text)
    return client.post(
        "/ui/login",
        data={"username": "inspector", "password": password, "csrf_token": token},
        headers=headers,
        follow_redirects=False,
    )


def _refused(answer: Any) -> bool:
    return answer.status_code == 403 and EN["error_reason.csrf_failed"] in answer.text


ELSEWHERE = [
    {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1"},  # the browser's word wins
    {"Origin": "http://sibling.example"},  # an older browser: no Sec-Fetch-Site
    {"Origin": "http://127.0.0.1:8443"},  # another port
    {"Origin": "null"},  # a sandboxed frame, a data: page
]


@pytest.mark.parametrize("headers", ELSEWHERE)
def test_a_sign_in_sent_from_another_site_signs_nobody_in(web, headers):
    client, before = _fresh(web), _logins(web)
    answer = _sign_in(client, headers)
    assert _refused(answer), (answer.status_code, answer.text[:300])
    assert not any(
        value.startswith(SESSION_COOKIE + "=") for value in answer.headers.get_list("set-cookie")
    )
    assert SESSION_COOKIE not in client.cookies
    assert _logins(web) == before
    assert _fresh(web).get("/ui/", follow_redirects=False).status_code == 303  # still nobody


def test_a_refused_sign_in_checks_no_password(web):
    # A wrong password from another site: refused as sent from there, not counted as wrong.
    assert _refused(_sign_in(_fresh(web), {"Sec-Fetch-Site": "same-site"}, "a wrong guess"))


OWN = [
    {"Sec-Fetch-Site": "same-origin"},
    {},  # neither header: a script, an older browser (the tokens decide, as before)
    {"Sec-Fetch-Site": "none"},  # made by the user alone (a reload), never by another site
    {"Origin": "http://127.0.0.1"},
    {"Origin": "http://127.0.0.1:80"},
    {"Origin": "https://127.0.0.1"},  # behind a TLS proxy whose scheme uvicorn does not trust
    # A proxy that rewrote Host: the browser's word decides, the Origin is not compared.
    {"Sec-Fetch-Site": "same-origin", "Origin": "https://shanyraq.example"},
]


@pytest.mark.parametrize("headers", OWN)
def test_a_sign_in_sent_from_these_pages_signs_in(web, headers):
    client, before = _fresh(web), _logins(web)
    answer = _sign_in(client, headers)
    assert answer.status_code == 303, answer.text
    assert SESSION_COOKIE in client.cookies
    assert _logins(web) == before + 1


def test_the_origin_is_compared_with_the_host_the_browser_sent_to(web):
    client = TestClient(web.app, base_url="http://shanyraq.example:8080")
    headers = {"Origin": "http://shanyraq.example:8080"}
    assert _sign_in(client, headers).status_code == 303
    other = TestClient(web.app, base_url="http://shanyraq.example:8080")
    assert _sign_in(other, {"Origin": "http://shanyraq.example"}).status_code == 403


# --- the signed-in forms too --------------------------------------------------------------


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "same-site"}, {"Origin": "null"}])
def test_a_signed_in_form_sent_from_another_site_does_nothing(web, browser_for, headers):
    inspector = browser_for("inspector")
    inspector.cookies.set("shanyraq_lang", "en", path="/ui")
    token = csrf_from(inspector.get("/ui/").text)
    answer = inspector.post(
        "/ui/logout", data={"csrf_token": token}, headers=headers, follow_redirects=False
    )
    assert _refused(answer)
    assert inspector.get("/ui/", follow_redirects=False).status_code == 200  # still signed in
    signed_out = inspector.post(
        "/ui/logout",
        data={"csrf_token": token},
        headers={"Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert signed_out.status_code == 303
    assert inspector.get("/ui/", follow_redirects=False).status_code == 303
