"""A sign-in form left open while another tab signed in or out comes back as the sign-in page
(a fresh token, a short notice, the user name kept), and still signs nobody in."""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from serving.db.models import AuditEntry
from serving.web.i18n import load_catalogues
from tests.serving.helpers import PASSWORD, Service
from tests.web.helpers import csrf_from, sign_in

NOTICE = re.compile(r'<p class="error" role="alert" id="login-error">(.*?)</p>')


def _actions(web: Service) -> list[str]:
    with web.services.sessions() as session:
        return [e.action for e in session.execute(select(AuditEntry)).scalars()]


def _username_field(page: str) -> str:
    found = re.search(r'<input id="username" name="username" value="([^"]*)"', page)
    assert found, "the page has no user name field"
    return html.unescape(found.group(1))


def _post_login(client: Any, token: str, **fields: str) -> Any:
    data = {"username": "admin", "password": PASSWORD, "csrf_token": token, **fields}
    return client.post("/ui/login", data=data, follow_redirects=False)


def test_a_sign_in_form_outdated_by_another_tab_comes_back_fresh(web, browser_for):
    client = browser_for("commission")
    stale_form = csrf_from(client.get("/ui/login").text)  # a tab with the sign-in page
    assert sign_in(client, "commission", PASSWORD).status_code == 303  # another tab signs in
    session_before = client.cookies.get("shanyraq_session")
    logins_before = _actions(web).count("login")
    answer = _post_login(client, stale_form, next="/ui/families?level=2")
    assert answer.status_code == 403  # refused: nobody was signed in by it
    assert client.cookies.get("shanyraq_session") == session_before
    assert not [c for c in answer.headers.get_list("set-cookie") if "shanyraq_session" in c]
    assert _actions(web).count("login") == logins_before
    # The sign-in page itself, with the browser's current token, the name but no password.
    fresh = csrf_from(answer.text)
    assert fresh != stale_form and fresh == client.cookies.get("shanyraq_csrf")
    assert _username_field(answer.text) == "admin"
    assert PASSWORD not in answer.text
    notice = NOTICE.search(answer.text)
    assert notice and html.unescape(notice.group(1)) == load_catalogues()["en"]["login.stale"]
    assert 'name="next" value="/ui/families?level=2"' in answer.text
    # Sending it again signs in.
    again = _post_login(client, fresh, next="/ui/families?level=2")
    assert again.status_code == 303 and again.headers["location"] == "/ui/families?level=2"


def test_a_sign_in_form_outdated_by_a_sign_out_comes_back_in_the_readers_language(web, browser_for):
    client = browser_for("commission")
    stale_form = csrf_from(client.get("/ui/login").text)
    page = client.get("/ui/")
    out = client.post("/ui/logout", data={"csrf_token": csrf_from(page.text)})
    assert out.status_code == 200 and "shanyraq_session" not in client.cookies
    answer = client.post(
        "/ui/login",
        data={"username": "commission", "password": PASSWORD, "csrf_token": stale_form},
        headers={"Accept-Language": "ru"},
        follow_redirects=False,
    )
    assert answer.status_code == 403 and "shanyraq_session" not in client.cookies
    notice = NOTICE.search(answer.text)
    assert notice and html.unescape(notice.group(1)) == load_catalogues()["ru"]["login.stale"]
    assert _username_field(answer.text) == "commission"


def test_a_cross_site_sign_in_post_signs_nobody_in(web):
    """Another site's form: the browser sends no cookie of these pages (SameSite=Strict), so
    no token can match; nobody is signed in and no password is even checked."""
    attacker = TestClient(web.app, base_url="http://127.0.0.1")
    before = _actions(web)
    for token in ("", "a" * 64):
        answer = _post_login(attacker, token, username="commission")
        assert answer.status_code == 403
        assert "shanyraq_session" not in attacker.cookies
        assert not [c for c in answer.headers.get_list("set-cookie") if "shanyraq_session" in c]
        attacker.cookies.clear()  # the next post comes from the other site again
    assert _actions(web) == before  # neither a sign-in nor a failed one
    assert attacker.get("/ui/", follow_redirects=False).status_code == 303


def test_a_wrong_password_keeps_the_user_name_but_not_the_password(web):
    answer = sign_in(web.client, "commission", "not the password")
    assert answer.status_code == 401
    assert _username_field(answer.text) == "commission"
    assert "not the password" not in answer.text
