"""The "Change password" page: the form, its CSRF check, its languages, and a real browser.

The plain tests drive the pages with TestClient; the browser test runs Debian's Chromium
through Playwright (the session's browser, tests/web/conftest.py) against a live server of
its own (no photo model: the page needs none), so the password it changes is no other test's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from serving.db.models import AuditEntry
from serving.users import PASSWORD_MIN_CHARS
from serving.web.i18n import LANGUAGES, load_catalogues
from serving.web.routes.auth import PASSWORD_MISMATCH, PASSWORD_REFUSALS
from tests.serving.helpers import PASSWORD, cheap_hasher, make_settings
from tests.web import live
from tests.web.browser_helpers import shot
from tests.web.helpers import csrf_from, sign_in

NEW_PASSWORD = "a brand new pass phrase"


def _form(new: str = NEW_PASSWORD, *, current: str = PASSWORD, again: str | None = None) -> dict:
    return {
        "current_password": current,
        "new_password": new,
        "new_password_again": new if again is None else again,
    }


def _post(client: Any, data: dict, *, lang: str | None = None) -> Any:
    """Open the form (for its CSRF token) and send it, as a browser would."""
    page = client.get("/ui/password" + (f"?lang={lang}" if lang else ""))
    assert page.status_code == 200, page.text
    return client.post(
        "/ui/password", data={**data, "csrf_token": csrf_from(page.text)}, follow_redirects=False
    )


def _api_login(web: Any, username: str, password: str) -> int:
    answer = web.client.post("/auth/token", data={"username": username, "password": password})
    return int(answer.status_code)


def _audited(web: Any, action: str) -> list[str | None]:
    with web.services.sessions() as session:
        statement = select(AuditEntry.actor).where(AuditEntry.action == action)
        return list(session.execute(statement).scalars())


def test_every_page_links_to_the_form_beside_sign_out_everywhere(browser_for):
    client = browser_for("annotator")
    home = client.get("/ui/")
    who = home.text.split('<div class="who">')[1].split("</div>")[0]
    assert 'action="/ui/logout-all"' in who and 'href="/ui/password"' in who
    assert ">Change password</a>" in who
    page = client.get("/ui/password")
    assert page.status_code == 200 and "<h1>Change password</h1>" in page.text
    assert 'href="/ui/password" aria-current="page"' in page.text
    for name in ("current_password", "new_password", "new_password_again"):
        assert f'name="{name}" type="password"' in page.text
    assert f'minlength="{PASSWORD_MIN_CHARS}"' in page.text
    assert f"At least {PASSWORD_MIN_CHARS} characters" in page.text


def test_the_change_keeps_this_session_and_ends_the_others(web, browser_for):
    client, elsewhere = browser_for("commission"), browser_for("commission")
    old_cookie = client.cookies.get("shanyraq_session")
    answer = _post(client, _form())
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/password?changed=1"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "shanyraq_session=" in c)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert client.cookies.get("shanyraq_session") != old_cookie
    notice = client.get("/ui/password?changed=1")
    assert notice.status_code == 200 and 'class="ok" role="status"' in notice.text
    assert client.get("/ui/families").status_code == 200  # still signed in, fresh token
    gone = elsewhere.get("/ui/families", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/ui/login")
    assert _api_login(web, "commission", PASSWORD) == 401
    assert _api_login(web, "commission", NEW_PASSWORD) == 200
    assert _audited(web, "password_changed") == ["commission"]


@pytest.mark.parametrize(
    ("form", "status", "text"),
    [
        (_form(current="not the password"), 403, "The current password is wrong."),
        (_form("x" * (PASSWORD_MIN_CHARS - 1)), 422, "The new password is too short"),
        (_form(PASSWORD), 422, "The new password is the same as the current one"),
        (_form(again="a brand new pass phrasE"), 422, "The two new passwords differ"),
        (_form("a long pass\tphrase"), 422, "The new password holds an invisible character"),
    ],
    ids=["wrong_current", "too_short", "unchanged", "mismatch", "control_character"],
)
def test_a_refused_change_shows_the_form_again_with_the_reason(
    web, browser_for, form, status, text
):
    client = browser_for("inspector")
    answer = _post(client, form)
    assert answer.status_code == status
    assert 'role="alert" id="password-error"' in answer.text and text in answer.text
    assert PASSWORD not in answer.text and NEW_PASSWORD not in answer.text  # never echoed
    assert client.get("/ui/upload").status_code == 200  # still signed in
    assert _api_login(web, "inspector", PASSWORD) == 200  # nothing changed
    assert _audited(web, "password_changed") == []


def test_form_posts_without_the_right_csrf_token_are_refused(web, browser_for):
    client = browser_for("admin")
    client.get("/ui/password")  # the CSRF cookie is set
    for token in ("", "0" * 64, "not a token"):
        answer = client.post(
            "/ui/password", data={**_form(), "csrf_token": token}, follow_redirects=False
        )
        assert answer.status_code == 403 and "<h1>Not allowed</h1>" in answer.text, token
    # A page from elsewhere: the session cookie alone, with a token of its own making.
    # (403, not a sign-in redirect: the session was accepted, the form was not.)
    forged = web.client.post(
        "/ui/password",
        data={**_form(), "csrf_token": "a" * 64},
        headers={"Cookie": f"shanyraq_session={client.cookies.get('shanyraq_session')}"},
        follow_redirects=False,
    )
    assert forged.status_code == 403 and "<h1>Not allowed</h1>" in forged.text
    assert _api_login(web, "admin", PASSWORD) == 200
    assert _api_login(web, "admin", NEW_PASSWORD) == 401
    assert _audited(web, "password_changed") == []


def test_without_a_session_the_page_sends_to_sign_in(web):
    answer = web.client.get("/ui/password", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login?next=/ui/password"


def test_wrong_current_passwords_meet_the_sign_in_limit_on_the_page(tmp_path):
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from tests.serving.helpers import seed_users

    limits = {"login_per_minute": 100, "login_per_account": 2, "login_account_window_minutes": 15}
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'limit.db'}", rate_limits=limits)
    app = create_app(settings)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        seed_users(app)
        assert sign_in(client, "commission", PASSWORD).status_code == 303
        for _ in range(2):
            assert _post(client, _form(current="a wrong guess")).status_code == 403
        limited = _post(client, _form(), lang="ru")
        assert limited.status_code == 429
        assert "Слишком много неверных паролей" in limited.text
        assert 0 < int(limited.headers["retry-after"]) <= 15 * 60  # when to try again
        # The sign-in form meets the same limit, and says when too.
        client.cookies.clear()
        refused = sign_in(client, "commission", "another wrong guess")
        assert refused.status_code == 429, refused.text
        assert 0 < int(refused.headers["retry-after"]) <= 15 * 60


@pytest.mark.parametrize(
    ("lang", "title", "wrong"),
    [
        ("ru", "Смена пароля", "Текущий пароль неверен."),
        ("kk", "Құпиясөзді өзгерту", "Қазіргі құпиясөз қате."),
    ],
    ids=["ru", "kk"],
)
def test_the_page_and_its_refusals_speak_the_readers_language(browser_for, lang, title, wrong):
    client = browser_for("annotator")
    page = client.get(f"/ui/password?lang={lang}")
    assert f'<html lang="{lang}">' in page.text and f"<h1>{title}</h1>" in page.text
    assert "Change password" not in page.text
    refused = _post(client, _form(current="not the password"))  # the remembered language
    assert refused.status_code == 403 and wrong in refused.text


def test_every_refusal_has_a_text_in_every_language():
    catalogues = load_catalogues()
    weak = [
        f"password.{reason}" for reason in ("too_short", "too_long", "control_character", "blank")
    ]
    keys = [*PASSWORD_REFUSALS.values(), PASSWORD_MISMATCH, *weak]
    for language in LANGUAGES:
        assert [k for k in keys if k not in catalogues[language]] == [], language
    for language in ("ru", "kk"):  # translated, not English copies
        assert all(catalogues[language][k] != catalogues["en"][k] for k in keys), language
    assert {"current_password_wrong", "password_weak", "password_unchanged", "rate_limited"} == set(
        PASSWORD_REFUSALS
    )


# --- in a real browser ---------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    from serving.core import security

    root = tmp_path_factory.mktemp("password-live")
    settings = make_settings(root, f"sqlite:///{root / 'web.db'}")
    with pytest.MonkeyPatch.context() as patch:  # argon2 at its lowest cost in tests
        patch.setattr(security, "_HASHER", cheap_hasher())
        running = live.start(settings)
        try:
            yield running
        finally:
            running.stop()


def _signed_in(instance: Any, server: live.LiveServer, username: str, password: str) -> Any:
    context = instance.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.goto(f"{server.url}/ui/login")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():  # to the landing page, or the sign-in page again
        page.press("#password", "Enter")
    return page


@pytest.mark.integration
@pytest.mark.slow
def test_a_user_changes_the_password_in_a_browser(browser, server):
    page = _signed_in(browser, server, "inspector", PASSWORD)
    other = _signed_in(browser, server, "inspector", PASSWORD)  # another device
    assert "/ui/upload" in page.url and "/ui/upload" in other.url
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.click("header .who a:text('Change password')")
    page.wait_for_url("**/ui/password")
    assert page.locator("h1").inner_text() == "Change password"
    # A wrong current password first: the form comes back with the reason, nothing changes.
    page.fill("#current-password", "not the password")
    page.fill("#new-password", NEW_PASSWORD)
    page.fill("#new-password-again", NEW_PASSWORD)
    with page.expect_navigation():
        page.click("main button[type=submit]")
    assert page.locator("#password-error").inner_text() == "The current password is wrong."
    assert page.locator("#current-password").input_value() == ""  # passwords never echoed
    shot(page, "password-refused")
    # Then the right one, keyboard only on the last field.
    page.fill("#current-password", PASSWORD)
    page.fill("#new-password", NEW_PASSWORD)
    page.fill("#new-password-again", NEW_PASSWORD)
    page.press("#new-password-again", "Enter")
    page.wait_for_url(re.compile(r".*/ui/password\?changed=1$"))
    assert "changed" in page.locator("p.ok[role=status]").inner_text()
    cookie = next(c for c in page.context.cookies() if c["name"] == "shanyraq_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    page.goto(f"{server.url}/ui/upload")  # this session goes on
    assert page.url.endswith("/ui/upload") and page.locator("h1").inner_text() == "Upload photos"
    other.goto(f"{server.url}/ui/upload")  # the other device is signed out
    assert "/ui/login" in other.url

    again = _signed_in(browser, server, "inspector", PASSWORD)  # the old password fails
    assert "/ui/login" in again.url and again.locator("p.error").count() == 1
    fresh = _signed_in(browser, server, "inspector", NEW_PASSWORD)
    assert fresh.url.endswith("/ui/upload")
    assert errors == []
