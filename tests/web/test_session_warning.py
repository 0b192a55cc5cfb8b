"""Pages warn before their session ends (WCAG 2.2.1): "Stay signed in" renews it, a session at
its bound after sign-in is said to be final, and an ended one links to sign-in.

The server's side with tokens made for any age (`session_token`); the page's side in Chromium
with Playwright's clock, so nothing waits for time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from serving.db.models import AuditEntry
from serving.web.i18n import load_catalogues
from tests.serving.helpers import started
from tests.web import live
from tests.web.live_module import live_server
from tests.web.session_helpers import (
    HOUR,
    MINUTE,
    dialog_open,
    live_token,
    page_clock,
    renewed_token,
    session_cookies,
    session_get,
    session_page,
    session_token,
    swap_session_cookie,
    token_claims,
)

EN = load_catalogues()["en"]


def _audit_entries(web: Any) -> int:
    with web.services.sessions() as session:
        return int(session.execute(select(func.count()).select_from(AuditEntry)).scalar_one())


# --- the server's side --------------------------------------------------------------------


def test_a_page_tells_when_its_session_ends_and_when_to_warn(web):
    settings = web.services.settings
    token = session_token(web, "commission", signed_in_ago_s=5 * MINUTE, issued_ago_s=5 * MINUTE)
    ends_in, warn_before, final = page_clock(session_get(web, "/ui/families", token).text)
    assert abs(ends_in - (settings.token_ttl_minutes * MINUTE - 5 * MINUTE)) <= 5
    assert warn_before == settings.session_warning_seconds >= 20
    assert not final
    assert "session-warning" not in web.client.get("/ui/login").text  # no session: no clock


def test_a_page_that_renews_its_session_tells_the_renewed_end(web):
    aged = session_token(web, "commission", signed_in_ago_s=40 * MINUTE, issued_ago_s=40 * MINUTE)
    answer = session_get(web, "/ui/families", aged)
    ends_in, _, final = page_clock(answer.text)
    renewed = token_claims(web, renewed_token(answer))
    assert abs(time.time() + ends_in - renewed.expires_at) <= 5  # the new token's end
    assert ends_in > 50 * MINUTE and not final


def test_stay_signed_in_renews_the_session_and_records_nothing(web):
    aged = session_token(web, "commission", signed_in_ago_s=50 * MINUTE, issued_ago_s=50 * MINUTE)
    before = _audit_entries(web)
    answer = session_get(web, "/ui/session", aged)
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    clock = answer.json()
    renewed = token_claims(web, renewed_token(answer))
    assert renewed.token_id == token_claims(web, aged).token_id  # the same session
    assert abs(time.time() + clock["ends_in_s"] - renewed.expires_at) <= 5
    assert clock["final"] is False
    assert clock["warn_before_s"] == web.services.settings.session_warning_seconds
    assert _audit_entries(web) == before


def test_a_session_at_its_bound_is_final_and_not_renewed(web):
    bound_in = 5 * MINUTE
    settings = web.services.settings
    aged = session_token(
        web, "commission", signed_in_ago_s=settings.session_max_hours * HOUR - bound_in,
        issued_ago_s=50 * MINUTE,
    )  # fmt: skip
    answer = session_get(web, "/ui/session", aged)
    assert answer.status_code == 200 and session_cookies(answer) == []
    assert answer.json()["final"] is True and abs(answer.json()["ends_in_s"] - bound_in) <= 5
    assert page_clock(session_get(web, "/ui/", aged).text)[2] is True


def test_an_ended_session_is_sent_to_sign_in(web):
    ended = session_token(web, "commission", signed_in_ago_s=2 * HOUR, issued_ago_s=2 * HOUR)
    answer = session_get(web, "/ui/session", ended)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login")


def test_the_warning_comes_when_stay_signed_in_can_renew(tmp_path: Path):
    """With short tokens the warning waits past half the token's life, when renewal is due."""
    with started(tmp_path, token_ttl_minutes=2) as web:
        token = session_token(web, "commission", signed_in_ago_s=0, issued_ago_s=0)
        _, warn_before, _ = page_clock(session_get(web, "/ui/", token).text)
        assert warn_before == MINUTE - 1


# --- the page's side, in Chromium -----------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    with live_server(tmp_path_factory.mktemp("session-warning")) as running:
        yield running


def _session_cookie(page: Any) -> str:
    values = [c["value"] for c in page.context.cookies() if c["name"] == "shanyraq_session"]
    assert len(values) == 1
    return values[0]


@pytest.mark.integration
@pytest.mark.slow
def test_the_page_warns_before_the_session_ends_and_stay_signed_in_renews_it(browser, server):
    page = session_page(browser, server, live_token(server, signed_in_ago_s=0, issued_ago_s=0))
    try:
        page.goto(f"{server.url}/ui/families")
        ends_in = int(page.get_attribute("#session-warning", "data-ends-in"))
        warn_before = int(page.get_attribute("#session-warning", "data-warn-before"))
        page.clock.fast_forward((ends_in - warn_before - 5) * 1000)
        assert not dialog_open(page)  # not yet
        page.clock.fast_forward(10 * 1000)
        assert dialog_open(page)
        assert page.get_attribute("#session-warning", "role") == "alertdialog"
        text = page.locator("#session-warning-text").inner_text()
        assert text.startswith(EN["session.warning"].split("{time}")[0]) and "{time}" not in text
        assert page.evaluate("document.activeElement.id") == "session-stay"
        # Meanwhile the session's token is past half its life, as it would be by now.
        swap_session_cookie(
            page,
            aged := live_token(server, signed_in_ago_s=50 * MINUTE, issued_ago_s=50 * MINUTE),
        )
        page.keyboard.press("Enter")
        page.wait_for_function("() => !document.getElementById('session-warning').open")
        status = page.locator("#session-status").inner_text()
        assert status.startswith(EN["session.renewed"].split("{time}")[0])
        services = SimpleNamespace(services=server.app.state.services)
        renewed = token_claims(services, _session_cookie(page))
        assert renewed.expires_at > token_claims(services, aged).expires_at
        # No new warning before the renewed end comes near.
        page.clock.fast_forward((ends_in - warn_before) * 1000 // 2)
        assert not dialog_open(page)
    finally:
        page.context.close()


@pytest.mark.integration
@pytest.mark.slow
def test_a_session_at_its_bound_says_it_cannot_be_extended_then_that_it_ended(browser, server):
    settings = server.app.state.services.settings
    token = live_token(
        server, signed_in_ago_s=settings.session_max_hours * HOUR - 200, issued_ago_s=50 * MINUTE
    )
    page = session_page(browser, server, token)
    try:
        page.goto(f"{server.url}/ui/families?status=all")
        assert page.get_attribute("#session-warning", "data-final") == "true"
        assert not dialog_open(page)
        page.clock.fast_forward(100 * 1000)  # 100 s left: within the warning's 120
        assert dialog_open(page)
        text = page.locator("#session-warning-text").inner_text()
        assert text.startswith(EN["session.final"].split("{time}")[0])
        assert page.locator("#session-stay").is_hidden()  # nothing to offer
        assert page.evaluate("document.activeElement.id") == "session-close"
        page.keyboard.press("Enter")
        assert not dialog_open(page)
        page.clock.fast_forward(120 * 1000)  # past the end
        assert dialog_open(page)
        assert page.locator("#session-warning-title").inner_text() == EN["session.ended_title"]
        link = page.locator("#session-sign-in")
        assert link.is_visible() and page.evaluate("document.activeElement.id") == "session-sign-in"
        assert link.get_attribute("href") == "/ui/login?next=%2Fui%2Ffamilies%3Fstatus%3Dall"
    finally:
        page.context.close()


@pytest.mark.integration
@pytest.mark.slow
def test_an_upload_that_renewed_the_session_moves_the_warning_on(browser, server):
    from tests.serving.helpers import family_body
    from tests.web.helpers import home_photo

    assert server.api("inspector").post("/families", json=family_body("F-401")).status_code == 201
    token = live_token(server, "inspector", signed_in_ago_s=0, issued_ago_s=0)
    page = session_page(browser, server, token)
    try:
        page.goto(f"{server.url}/ui/upload")
        ends_in = int(page.get_attribute("#session-warning", "data-ends-in"))
        warn_before = int(page.get_attribute("#session-warning", "data-warn-before"))
        half_way_s = (ends_in - warn_before) // 2
        page.clock.fast_forward(half_way_s * 1000)
        # By now the session's token is past half its life: the upload renews it.
        services = SimpleNamespace(services=server.app.state.services)
        same = token_claims(services, token).token_id
        aged = live_token(
            server, "inspector", signed_in_ago_s=40 * MINUTE, issued_ago_s=40 * MINUTE,
            token_id=same,
        )  # fmt: skip
        swap_session_cookie(page, aged)
        page.select_option("#family-id", "F-401")
        page.set_input_files(
            "#files", files=[{"name": "k.jpg", "mimeType": "image/jpeg", "buffer": home_photo(41)}]
        )
        page.click("#upload-form button[type=submit]")
        page.wait_for_selector("#upload-results article")
        assert (
            token_claims(services, _session_cookie(page)).issued_at
            > token_claims(services, aged).issued_at
        )
        page.clock.fast_forward((half_way_s + 60) * 1000)  # past the warning of the old end
        assert not dialog_open(page)
    finally:
        page.context.close()


@pytest.mark.integration
@pytest.mark.slow
def test_an_upload_page_with_chosen_photos_signs_in_again_in_a_new_tab(browser, server):
    """Leaving the upload page would lose the photos chosen there: the ended session's dialog
    then says they stay chosen and its sign-in link opens a new tab; with none chosen it is
    the plain sign-in that comes back to the page."""
    from tests.web.helpers import home_photo

    token = live_token(server, "inspector", signed_in_ago_s=0, issued_ago_s=0)
    for chosen in (True, False):
        page = session_page(browser, server, token)
        try:
            page.goto(f"{server.url}/ui/upload")
            if chosen:
                photo = {"name": "k.jpg", "mimeType": "image/jpeg", "buffer": home_photo(42)}
                page.set_input_files("#files", files=[photo])
            ends_in = int(page.get_attribute("#session-warning", "data-ends-in"))
            page.clock.fast_forward((ends_in + 5) * 1000)  # past the end
            assert dialog_open(page)
            text = page.locator("#session-warning-text").inner_text()
            link = page.locator("#session-sign-in")
            assert page.evaluate("document.activeElement.id") == "session-sign-in"
            if chosen:
                assert text == EN["session.ended_upload"]
                assert link.inner_text() == EN["upload.sign_in_new_tab"]
                assert link.get_attribute("target") == "_blank"
                assert link.get_attribute("href") == "/ui/login"
                assert page.evaluate("[...document.getElementById('files').files].length") == 1
            else:
                assert text == EN["session.ended"]
                assert link.inner_text() == EN["session.sign_in"]
                assert link.get_attribute("target") is None
                assert link.get_attribute("href") == "/ui/login?next=%2Fui%2Fupload"
        finally:
            page.context.close()
