"""The session warning writes its times as every other time on the pages: in the site's zone
(serving.yaml `display_timezone`), on a 24-hour clock, with the zone's UTC offset stated,
whatever zone and clock the reader's device is set to. In Chromium, with Playwright's clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from serving.web.i18n import load_catalogues
from serving.web.times import utc_offset
from tests.web import live
from tests.web.live_module import live_server
from tests.web.session_helpers import MINUTE, dialog_open, live_token, swap_session_cookie

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CATALOGUES = load_catalogues()
# 06:00 UTC: 11:00 in Almaty, 01:00 (AM) in New York, 09:00 in Moscow.
START = datetime(2025, 1, 15, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    with live_server(tmp_path_factory.mktemp("review26-clock")) as running:
        yield running


def _page_elsewhere(browser: Any, server: live.LiveServer, *, locale: str, zone: str) -> Any:
    """A signed-in page on a device set to `locale` and `zone`, its clock stopped at START."""
    context = browser.new_context(locale=locale, timezone_id=zone)
    host = server.url.split("//", 1)[1].split(":", 1)[0]
    token = live_token(server, signed_in_ago_s=0, issued_ago_s=0)
    cookie = {"name": "shanyraq_session", "value": token, "domain": host, "path": "/ui"}
    context.add_cookies([{**cookie, "httpOnly": True, "sameSite": "Strict"}])
    page = context.new_page()
    page.clock.install(time=START - timedelta(seconds=10))
    page.clock.pause_at(START)  # the page learns its session's end from this moment
    return page


def _site_zone(server: live.LiveServer) -> Any:
    return server.app.state.services.settings.display_zone


def _site_clock(server: live.LiveServer, moment: datetime, lang: str) -> str:
    """`moment` as the pages write a time of day: "11:00 (UTC+5)"."""
    local = moment.astimezone(_site_zone(server))
    zone = utc_offset(local.utcoffset())
    return CATALOGUES[lang]["time.clock"].format(time=local.strftime("%H:%M"), zone=zone)


@pytest.mark.parametrize(
    ("lang", "locale", "zone"),
    [("en", "en-US", "America/New_York"), ("ru", "ru-RU", "Europe/Moscow"), ("kk", "kk-KZ", "UTC")],
)
def test_the_warning_says_when_the_session_ends_in_the_sites_zone(
    browser, server, lang, locale, zone
):
    page = _page_elsewhere(browser, server, locale=locale, zone=zone)
    try:
        page.goto(f"{server.url}/ui/families?lang={lang}")
        ends_in = int(page.get_attribute("#session-warning", "data-ends-in"))
        warn_before = int(page.get_attribute("#session-warning", "data-warn-before"))
        page.clock.fast_forward((ends_in - warn_before + 5) * 1000)
        assert dialog_open(page)
        text = page.locator("#session-warning-text").inner_text()
        end = START + timedelta(seconds=ends_in)
        wanted = CATALOGUES[lang]["session.warning"].format(time=_site_clock(server, end, lang))
        assert text == wanted
    finally:
        page.context.close()


def test_the_renewed_end_is_said_in_the_sites_zone_too(browser, server):
    page = _page_elsewhere(browser, server, locale="en-US", zone="America/New_York")
    try:
        page.goto(f"{server.url}/ui/families?lang=en")
        ends_in = int(page.get_attribute("#session-warning", "data-ends-in"))
        warn_before = int(page.get_attribute("#session-warning", "data-warn-before"))
        page.clock.fast_forward((ends_in - warn_before + 5) * 1000)
        assert dialog_open(page)
        swap_session_cookie(
            page, live_token(server, signed_in_ago_s=50 * MINUTE, issued_ago_s=50 * MINUTE)
        )  # past half its life by now: "Stay signed in" renews it
        page.click("#session-stay")
        page.wait_for_function("() => document.getElementById('session-status').textContent")
        status = page.locator("#session-status").inner_text()
        before, after = CATALOGUES["en"]["session.renewed"].split("{time}")
        assert status.startswith(before) and status.endswith(after)
        said = status[len(before) : len(status) - len(after)]
        zone = utc_offset(START.astimezone(_site_zone(server)).utcoffset())
        assert re.fullmatch(r"[0-2]\d:[0-5]\d \(" + re.escape(zone) + r"\)", said), said
    finally:
        page.context.close()
