"""Review 22 of the page session: an Authorization header the pages do not use (a proxy's
HTTP Basic login in front of the site) does not hide the session cookie."""

from __future__ import annotations

import base64
from typing import Any

from fastapi.testclient import TestClient

from tests.serving.helpers import PASSWORD, Service
from tests.web.helpers import csrf_from, sign_in

# What a browser sends on every request to a site behind a proxy with HTTP Basic auth.
PROXY_LOGIN = "Basic " + base64.b64encode(b"staff:proxy-password").decode()


def _behind_basic_auth(web: Service) -> Any:
    return TestClient(web.app, base_url="http://127.0.0.1", headers={"Authorization": PROXY_LOGIN})


def test_pages_behind_a_basic_auth_proxy_keep_the_signed_in_session(web):
    client = _behind_basic_auth(web)
    signed_in = sign_in(client, "commission", PASSWORD)
    assert signed_in.status_code == 303, signed_in.text
    page = client.get("/ui/families", follow_redirects=False)
    # Before: the Basic header stood in the session's way, every page led back to sign-in.
    assert page.status_code == 200, page.headers.get("location")
    assert "commission" in page.text


def test_forms_behind_a_basic_auth_proxy_still_need_the_sessions_csrf_token(web):
    client = _behind_basic_auth(web)
    assert sign_in(client, "commission", PASSWORD).status_code == 303
    token = csrf_from(client.get("/ui/password").text)
    refused = client.post("/ui/logout", data={"csrf_token": "0" * 64}, follow_redirects=False)
    assert refused.status_code == 403
    signed_out = client.post("/ui/logout", data={"csrf_token": token}, follow_redirects=False)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/ui/login"
    # Signed out on the server: the old cookie, sent again, opens nothing.
    assert client.get("/ui/families", follow_redirects=False).status_code == 303


def test_a_bearer_header_on_a_page_still_wins_over_the_cookie(web, browser_for):
    client = browser_for("commission")  # its cookie: the commission's session
    page = client.get("/ui/upload", headers=web.headers("inspector"), follow_redirects=False)
    assert page.status_code == 200  # the inspector's page: the header decided, not the cookie
