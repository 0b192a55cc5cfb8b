"""The store's health probe under checks at once, every Cookie header read alike, and no
renewal of a session that another request ended while this one ran."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.requests import HTTPConnection, cookie_parser

from serving.storage import TEMP_LEFTOVER_AGE_S, PhotoStore
from serving.store_sweep import find_orphans
from serving.web.routes import auth as web_auth
from tests.serving.helpers import PASSWORD
from tests.serving.logout_helpers import SESSION_ENDINGS
from tests.web.helpers import csrf_from
from tests.web.session_helpers import (
    MINUTE,
    renewed_token,
    session_cookies,
    session_get,
    session_token,
    token_claims,
)

# --- /health: a probe of its own per check -------------------------------------------------


def test_a_health_check_made_while_another_holds_its_probe_fails_neither(tmp_path, monkeypatch):
    store = PhotoStore(tmp_path)
    store.prepare()
    real_unlink, second, started = os.unlink, [], threading.Event()

    def unlink_after_a_second_check(path: Any, *args: Any, **kwargs: Any) -> None:
        # The first check is about to remove its probe: another check (another worker, a
        # command) runs now, in a thread of its own, and finishes first.
        if not started.is_set() and Path(path).parent == tmp_path:
            started.set()
            thread = threading.Thread(target=lambda: second.append(store.health()))
            thread.start()
            thread.join()
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink_after_a_second_check)
    first = store.health()
    assert (first, second) == ("ok", ["ok"])  # the fixed probe name: the first got ENOENT
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".health")] == []


def test_a_probe_a_killed_check_left_is_no_photo_and_goes_once_old(web):
    store = web.services.store
    old, young = store.root / ".health-4242-killed", store.root / ".health-4243-running"
    for probe in (old, young):
        probe.write_bytes(b"ok")
    long_ago = time.time() - TEMP_LEFTOVER_AGE_S - 60
    os.utime(old, (long_ago, long_ago))
    assert find_orphans(store, web.services.readers, grace_hours=0) == []
    store.prepare(any_age=True)  # even at the service's start: a young one may be in use
    assert (old.exists(), young.exists()) == (False, True)
    assert store.health() == "ok"


def test_health_says_unavailable_when_the_store_takes_no_new_file(web, tmp_path, monkeypatch):
    not_a_folder = tmp_path / "not a folder"
    not_a_folder.write_bytes(b"")
    monkeypatch.setattr(web.services.store, "root", not_a_folder)  # no probe can be made there
    answer = web.client.get("/health")
    assert answer.status_code == 503 and answer.json()["store"].startswith("error: ")


# --- every Cookie header (HTTP/2 sends one per cookie) ---------------------------------------


@pytest.fixture
def first_cookie_header_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """`Request.cookies` as Starlette before 0.49 has it (fastapi>=0.110 allows those): only
    the first Cookie header is read."""

    def first_only(self: HTTPConnection) -> dict[str, str]:
        return cookie_parser(self.headers.get("cookie", ""))

    monkeypatch.setattr(HTTPConnection, "cookies", property(first_only))


def _client(web: Any) -> TestClient:
    return TestClient(web.app, base_url="http://127.0.0.1")


def _sign_in_split(web: Any, *, before: tuple[str, ...] = (), after: tuple[str, ...] = ()) -> Any:
    """Sign in as commission by the form, each cookie in a Cookie header of its own: those of
    `before`, the sign-in form's CSRF cookie, those of `after`."""
    page = _client(web).get("/ui/login")
    csrf = f"shanyraq_csrf={page.cookies['shanyraq_csrf']}"
    return _client(web).post(
        "/ui/login",
        data={"username": "commission", "password": PASSWORD, "csrf_token": csrf_from(page.text)},
        headers=[("cookie", c) for c in (*before, csrf, *after)],
        follow_redirects=False,
    )


def _split_get(web: Any, path: str, token: str) -> Any:
    """`path` with the session cookie in the second of two Cookie headers."""
    headers = [("cookie", "shanyraq_lang=en"), ("cookie", f"shanyraq_session={token}")]
    return _client(web).get(path, headers=headers, follow_redirects=False)


def test_the_sign_in_forms_csrf_cookie_in_a_second_cookie_header_is_read(
    web, first_cookie_header_only
):
    answer = _sign_in_split(web, before=("shanyraq_lang=en",))
    assert answer.status_code == 303, answer.text  # not the form again as out of date


def test_a_sign_in_ends_the_session_whose_cookie_came_in_a_second_header(
    web, first_cookie_header_only
):
    old = session_token(web, "commission", signed_in_ago_s=5 * MINUTE, issued_ago_s=5 * MINUTE)
    assert session_get(web, "/ui/", old).status_code == 200
    assert _sign_in_split(web, after=(f"shanyraq_session={old}",)).status_code == 303
    answer = session_get(web, "/ui/", old)  # the replaced session's cookie is refused from now on
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login")


def test_an_error_page_shows_the_menu_of_a_session_in_a_second_header(
    web, first_cookie_header_only
):
    token = session_token(web, "commission", signed_in_ago_s=5 * MINUTE, issued_ago_s=5 * MINUTE)
    answer = _split_get(web, "/ui/families/no-such-family", token)
    assert answer.status_code == 404 and 'action="/ui/logout"' in answer.text


def test_the_session_warning_counts_from_the_renewal_of_a_session_in_a_second_header(
    web, first_cookie_header_only
):
    aged = session_token(web, "commission", signed_in_ago_s=40 * MINUTE, issued_ago_s=40 * MINUTE)
    answer = _split_get(web, "/ui/", aged)
    renewed = token_claims(web, renewed_token(answer))
    ends_in = int(answer.text.split('data-ends-in="', 1)[1].split('"', 1)[0])
    assert abs(ends_in - (renewed.expires_at - time.time())) < 60  # not the old token's end


# --- a renewal never revives a session ended while its request ran --------------------------


@pytest.mark.parametrize("end", SESSION_ENDINGS)
def test_a_page_answered_after_its_session_ended_does_not_renew_it(web, monkeypatch, end):
    """Another tab signed in again (the old session revoked) or changed the password (every
    other session signed out), and set its new cookie, while this page was being made: a
    renewed cookie of the ended session would replace the new one and sign the user out."""
    aged = session_token(web, "commission", signed_in_ago_s=40 * MINUTE, issued_ago_s=40 * MINUTE)
    record_view = web_auth.record_view

    def ended_meanwhile(*args: Any, **kwargs: Any) -> None:
        end(web, aged)
        record_view(*args, **kwargs)

    monkeypatch.setattr(web_auth, "record_view", ended_meanwhile)
    answer = session_get(web, "/ui/", aged)
    assert answer.status_code == 200  # the sign-in check passed before the session ended
    assert session_cookies(answer) == []


def test_the_language_cookie_in_a_second_header_is_read(web, first_cookie_header_only):
    headers = [("cookie", "other=1"), ("cookie", "shanyraq_lang=kk")]
    answer = _client(web).get("/ui/login", headers=headers)
    assert answer.status_code == 200 and '<html lang="kk">' in answer.text
