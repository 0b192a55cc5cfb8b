"""What a shared office computer keeps: photo caching, cookie flags, CSRF tokens per session."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from serving.web import heatmaps
from tests.serving.helpers import PASSWORD, Service, jpeg, make_settings, seed_users
from tests.web.helpers import csrf_from, sign_in

NEW_PASSWORD = "a brand new passphrase 42"


def _cookies(answer: Any, name: str) -> list[str]:
    return [c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{name}=")]


def _cookie(answer: Any, name: str) -> str:
    found = _cookies(answer, name)
    assert len(found) == 1, answer.headers.get_list("set-cookie")
    return found[0]


def _value(set_cookie: str) -> str:
    return set_cookie.split(";", 1)[0].split("=", 1)[1]


def _attributes(set_cookie: str) -> set[str]:
    return {part.strip().split("=", 1)[0].lower() for part in set_cookie.split(";")[1:]}


def _photo(web: Service) -> int:
    web.create_family("F1")
    answer = web.upload("F1", jpeg(1))
    assert answer.status_code in (200, 201), answer.text
    return int(answer.json()["photo_id"])


def _change_password(client: Any, csrf: str) -> Any:
    form = {"current_password": PASSWORD, "csrf_token": csrf}
    form |= {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
    return client.post("/ui/password", data=form, follow_redirects=False)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


# --- photos and heat maps are never stored by the browser ---------------------------------


def test_photo_and_heat_map_are_not_stored_by_the_browser(web, browser_for, monkeypatch):
    # A heat map needs model.pt: only the Grad-CAM overlay is replaced, the route is real.
    monkeypatch.setattr(heatmaps, "sign_overlay", lambda services, *, sha256, sign: _png())
    monkeypatch.setattr(heatmaps, "check_explains", lambda services, photo: None)
    photo_id = _photo(web)
    commission = browser_for("commission")
    answers = {
        "heat map": commission.get(f"/ui/photos/{photo_id}/heatmap/damp_mould"),
        "page image": commission.get(f"/ui/photos/{photo_id}/image"),
        "API image": web.client.get(f"/photos/{photo_id}/image", headers=web.headers("commission")),
    }
    for what, answer in answers.items():
        assert answer.status_code == 200, what
        assert answer.headers["content-type"].startswith("image/"), what
        assert answer.headers.get_list("cache-control") == ["no-store"], what
        assert answer.headers.get_list("x-content-type-options") == ["nosniff"], what


def test_pages_keep_their_own_headers_once_and_static_files_stay_cacheable(web, browser_for):
    page = browser_for("commission").get("/ui/families")
    assert page.headers.get_list("cache-control") == ["no-store"]  # not set twice
    assert page.headers.get_list("x-content-type-options") == ["nosniff"]
    style = web.client.get("/ui/static/style.css")
    assert style.status_code == 200 and "cache-control" not in style.headers
    assert "etag" in style.headers  # revalidated, not refetched


# --- the session cookie ----------------------------------------------------------------


def test_the_session_cookie_ends_with_the_browser(web, browser_for):
    """No Max-Age or Expires: closing the browser signs out; the token's exp bounds it anyway."""
    signed_in = sign_in(TestClient(web.app, base_url="http://127.0.0.1"), "commission", PASSWORD)
    cookie = _cookie(signed_in, "shanyraq_session")
    assert {"httponly", "path", "samesite"} <= _attributes(cookie)
    assert not {"max-age", "expires"} & _attributes(cookie), cookie
    client = browser_for("admin")
    changed = _change_password(client, csrf_from(client.get("/ui/password").text))
    assert changed.status_code == 303
    assert not {"max-age", "expires"} & _attributes(_cookie(changed, "shanyraq_session"))


@pytest.fixture
def app_with(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Factory: a started app with settings overrides, for clients at `base_url`."""
    stack: list[TestClient] = []

    def factory(base_url: str, **overrides: Any) -> Service:
        from serving.app import create_app

        folder = tmp_path / str(len(stack))
        settings = make_settings(folder, f"sqlite:///{folder / 'web.db'}", **overrides)
        app = create_app(settings)
        client = TestClient(app, base_url=base_url)
        stack.append(client.__enter__())
        return Service(client=client, app=app, tokens=seed_users(app))

    yield factory
    for client in stack:
        client.__exit__(None, None, None)


def _every_cookie_the_pages_set(web: Service) -> dict[str, str]:
    """Set-Cookie lines of the sign-in page, sign-in, a language choice and sign-out.

    The cookie jar of an http client keeps Secure cookies to itself, so they are sent by hand.
    """
    page = web.client.get("/ui/login?lang=ru")
    csrf = _cookie(page, "shanyraq_csrf")
    signed_in = web.client.post(
        "/ui/login",
        data={"username": "commission", "password": PASSWORD, "csrf_token": csrf_from(page.text)},
        headers={"Cookie": f"shanyraq_csrf={_value(csrf)}"},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text
    session = _cookie(signed_in, "shanyraq_session")
    cookie = {"Cookie": f"shanyraq_session={_value(session)}"}
    home = web.client.get("/ui/", headers=cookie)
    signed_out = web.client.post(
        "/ui/logout", data={"csrf_token": csrf_from(home.text)}, headers=cookie,
        follow_redirects=False,
    )  # fmt: skip
    assert signed_out.status_code == 303, signed_out.text
    return {
        "csrf (sign-in page)": csrf,
        "language": _cookie(page, "shanyraq_lang"),
        "session": session,
        "csrf (renewed at sign-in)": _cookie(signed_in, "shanyraq_csrf"),
        "session (deleted at sign-out)": _cookie(signed_out, "shanyraq_session"),
        "csrf (renewed at sign-out)": _cookie(signed_out, "shanyraq_csrf"),
    }


@pytest.mark.parametrize(
    ("mode", "base_url", "secure"),
    [
        ("always", "http://127.0.0.1", True),  # behind a TLS proxy that sends no scheme
        ("never", "https://127.0.0.1", False),
        ("auto", "https://127.0.0.1", True),
        ("auto", "http://127.0.0.1", False),  # the demo
    ],
)
def test_secure_cookies_follow_the_setting(app_with, mode, base_url, secure):
    web = app_with(base_url, secure_cookies=mode)
    assert web.services.settings.secure_cookies == mode
    for what, cookie in _every_cookie_the_pages_set(web).items():
        assert ("secure" in _attributes(cookie)) is secure, (what, cookie)


def test_the_shipped_setting_is_auto():
    from serving.core.config import load_serving_settings

    assert load_serving_settings().secure_cookies == "auto"


# --- CSRF tokens: bound to the session, renewed when a session starts or ends -------------


def test_a_planted_csrf_cookie_is_replaced_at_sign_in_and_opens_no_form(web):
    planted = "a" * 64
    client = TestClient(web.app, base_url="http://127.0.0.1")
    client.cookies.set("shanyraq_csrf", planted, path="/ui")
    page = client.get("/ui/login")
    assert csrf_from(page.text) == planted  # the sign-in form's double submit, as before
    signed_in = client.post(
        "/ui/login",
        data={"username": "commission", "password": PASSWORD, "csrf_token": planted},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    assert _value(_cookie(signed_in, "shanyraq_csrf")) not in ("", planted)  # renewed
    assert csrf_from(client.get("/ui/").text) != planted
    # Whoever planted the cookie (a sibling subdomain, a plain-http answer) still cannot post
    # for this session: its forms want the session's own token, not the cookie's value.
    session = client.cookies.get("shanyraq_session")
    forged = TestClient(web.app, base_url="http://127.0.0.1").post(
        "/ui/logout",
        data={"csrf_token": planted},
        headers={"Cookie": f"shanyraq_session={session}; shanyraq_csrf={planted}"},
        follow_redirects=False,
    )
    assert forged.status_code == 403 and "<h1>Not allowed</h1>" in forged.text
    assert client.get("/ui/", follow_redirects=False).status_code == 200  # still signed in


def test_each_session_has_its_own_csrf_token(web, browser_for):
    one, two = browser_for("commission"), browser_for("commission")
    token_one, token_two = csrf_from(one.get("/ui/").text), csrf_from(two.get("/ui/").text)
    assert token_one != token_two
    assert csrf_from(one.get("/ui/families").text) == token_one  # stable within a session
    # The same browser after signing in again: a new session, a new token.
    again = sign_in(one, "commission", PASSWORD)
    assert again.status_code == 303
    assert csrf_from(one.get("/ui/").text) not in (token_one, token_two)
    refused = two.post("/ui/logout", data={"csrf_token": token_one}, follow_redirects=False)
    assert refused.status_code == 403
    out = two.post("/ui/logout", data={"csrf_token": token_two}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"


def test_sign_out_renews_the_sign_in_forms_token(web, browser_for):
    client = browser_for("commission")
    before = client.cookies.get("shanyraq_csrf")
    login_page = client.get("/ui/login")  # a sign-in form shown while signed in
    old_form_token = csrf_from(login_page.text)
    assert old_form_token == before  # the pre-session token, not the session's
    out = client.post(
        "/ui/logout", data={"csrf_token": csrf_from(client.get("/ui/").text)},
        follow_redirects=False,
    )  # fmt: skip
    assert out.status_code == 303
    after = _value(_cookie(out, "shanyraq_csrf"))
    assert after not in ("", before)
    stale = client.post(
        "/ui/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": old_form_token},
        follow_redirects=False,
    )
    assert stale.status_code == 403  # the form seen before signing out is out of date
    assert sign_in(client, "admin", PASSWORD).status_code == 303  # a fresh one works


def test_signing_in_from_the_sign_in_page_while_signed_in_works(web, browser_for):
    client = browser_for("commission")
    answer = sign_in(client, "admin", PASSWORD)  # the form's token is the pre-session one
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/oversight"


def test_a_password_change_renews_the_csrf_token(web, browser_for):
    client = browser_for("inspector")
    page = client.get("/ui/password")
    old_token = csrf_from(page.text)
    changed = _change_password(client, old_token)
    assert changed.status_code == 303
    assert _cookies(changed, "shanyraq_csrf")  # the pre-session cookie is renewed too
    new_token = csrf_from(client.get("/ui/password?changed=1").text)
    assert new_token != old_token
    stale = client.post("/ui/logout", data={"csrf_token": old_token}, follow_redirects=False)
    assert stale.status_code == 403  # a form of the old session
    out = client.post("/ui/logout", data={"csrf_token": new_token}, follow_redirects=False)
    assert out.status_code == 303


def test_a_token_with_other_characters_is_refused_not_a_server_error(web, browser_for):
    client = browser_for("commission")
    answer = client.post("/ui/logout", data={"csrf_token": "ключ"}, follow_redirects=False)
    assert answer.status_code == 403
    login = TestClient(web.app, base_url="http://127.0.0.1")
    login.get("/ui/login")
    refused = login.post(
        "/ui/login",
        data={"username": "commission", "password": PASSWORD, "csrf_token": "ключ"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
