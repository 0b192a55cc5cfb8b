"""A renewal that is not made leaves the page's session clock at what the server granted: a
session ended while "Stay signed in" was asked shows as ended, not renewed, and a refused or
failed renewal moves the clock nowhere."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from serving.web import session as web_session
from serving.web.i18n import load_catalogues
from serving.web.routes import session_keepalive
from tests.serving.logout_helpers import SESSION_ENDINGS, ended_by_sign_in
from tests.web import live
from tests.web.live_module import live_server
from tests.web.session_helpers import (
    MINUTE,
    dialog_open,
    live_token,
    session_cookies,
    session_get,
    session_page,
    session_token,
    swap_session_cookie,
    token_claims,
)

EN = load_catalogues()["en"]


def _ending_meanwhile(monkeypatch: pytest.MonkeyPatch, end: Any) -> None:
    """The keepalive's session is ended by another request after its sign-in check passed."""
    csrf_token = session_keepalive.csrf_token

    def ended_then_token(request: Any) -> str:
        end()
        return csrf_token(request)

    monkeypatch.setattr(session_keepalive, "csrf_token", ended_then_token)


# --- the server's side ----------------------------------------------------------------------


@pytest.mark.parametrize("end", SESSION_ENDINGS)
def test_a_keepalive_whose_session_ended_meanwhile_says_it_was_not_renewed(web, monkeypatch, end):
    aged = session_token(web, "commission", signed_in_ago_s=50 * MINUTE, issued_ago_s=50 * MINUTE)
    _ending_meanwhile(monkeypatch, lambda: end(web, aged))
    answer = session_get(web, "/ui/session", aged)
    assert answer.status_code == 200 and session_cookies(answer) == []
    assert answer.headers["x-session-renewal"] == "skipped"
    assert json.loads(answer.headers["x-session-clock"])["ends_in_s"] == 0


def test_a_keepalive_whose_session_could_not_be_checked_tells_the_current_tokens_end(
    web, monkeypatch
):
    aged = session_token(web, "commission", signed_in_ago_s=50 * MINUTE, issued_ago_s=50 * MINUTE)

    def failing(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database is gone")

    monkeypatch.setattr(web_session, "get_current_user", failing)  # the renewal's check only
    answer = session_get(web, "/ui/session", aged)
    assert answer.status_code == 200 and session_cookies(answer) == []
    assert answer.headers["x-session-renewal"] == "skipped"
    clock = json.loads(answer.headers["x-session-clock"])
    assert abs(time.time() + clock["ends_in_s"] - token_claims(web, aged).expires_at) <= 5


def test_a_renewed_keepalive_is_not_marked_skipped(web):
    aged = session_token(web, "commission", signed_in_ago_s=50 * MINUTE, issued_ago_s=50 * MINUTE)
    answer = session_get(web, "/ui/session", aged)
    assert len(session_cookies(answer)) == 1 and "x-session-renewal" not in answer.headers


# --- the page's side, in Chromium -----------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    with live_server(tmp_path_factory.mktemp("session-clock-p479")) as running:
        yield running


def _warned_page(browser: Any, server: live.LiveServer) -> tuple[Any, str, int]:
    """A page whose session warning is open, its token now past half its life (a renewal is
    due); with that token and the seconds until the warned end."""
    page = session_page(browser, server, live_token(server, signed_in_ago_s=0, issued_ago_s=0))
    page.goto(f"{server.url}/ui/families")
    ends_in = int(page.get_attribute("#session-warning", "data-ends-in"))
    warn_before = int(page.get_attribute("#session-warning", "data-warn-before"))
    page.clock.fast_forward((ends_in - warn_before + 5) * 1000)
    assert dialog_open(page)
    aged = live_token(server, signed_in_ago_s=50 * MINUTE, issued_ago_s=50 * MINUTE)
    swap_session_cookie(page, aged)
    return page, aged, warn_before - 5


def _ended_dialog(page: Any) -> bool:
    title = page.locator("#session-warning-title").inner_text()
    return dialog_open(page) and title == EN["session.ended_title"]


@pytest.mark.integration
@pytest.mark.slow
def test_stay_signed_in_for_a_session_ended_meanwhile_shows_it_ended(browser, server, monkeypatch):
    page, aged, _ = _warned_page(browser, server)
    services = SimpleNamespace(services=server.app.state.services)
    _ending_meanwhile(monkeypatch, lambda: ended_by_sign_in(services, aged))
    try:
        page.click("#session-stay")
        page.wait_for_function(
            "() => document.getElementById('session-warning-title').textContent"
            f" === {json.dumps(EN['session.ended_title'])}"
        )
        assert _ended_dialog(page) and page.locator("#session-sign-in").is_visible()
        assert page.locator("#session-status").inner_text() == ""  # no "you stay signed in"
    finally:
        page.context.close()


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("answer", ["network", 429, 500, 503])
def test_a_failed_renewal_keeps_the_clock_at_the_granted_end(browser, server, answer):
    page, _, left_s = _warned_page(browser, server)
    try:
        if answer == "network":
            page.route("**/ui/session", lambda route: route.abort())
        else:
            # Even an error answer that carries a later clock extends nothing.
            body = json.dumps({"ends_in_s": 3600, "warn_before_s": 120, "final": False})
            page.route("**/ui/session", lambda route: route.fulfill(status=answer, body=body))
        page.click("#session-stay")
        page.wait_for_function(
            "() => document.getElementById('session-warning-text').textContent"
            f" === {json.dumps(EN['session.renew_failed'])}"
        )
        assert page.locator("#session-status").inner_text() == ""
        page.clock.fast_forward((left_s + 5) * 1000)  # past the end granted before
        assert _ended_dialog(page)
    finally:
        page.context.close()


@pytest.mark.integration
@pytest.mark.slow
def test_a_renewal_refused_as_signed_out_shows_the_session_ended(browser, server):
    page, _, _ = _warned_page(browser, server)
    try:
        body = json.dumps({"ends_in_s": 3600, "warn_before_s": 120, "final": False})
        page.route("**/ui/session", lambda route: route.fulfill(status=401, body=body))
        page.click("#session-stay")
        page.wait_for_function(
            "() => document.getElementById('session-warning-title').textContent"
            f" === {json.dumps(EN['session.ended_title'])}"
        )
        assert _ended_dialog(page) and page.locator("#session-status").inner_text() == ""
    finally:
        page.context.close()
