"""Two tabs in a real browser (Chromium through Playwright): a sign-in page left open while the
other tab signs in comes back as the sign-in page, and then signs in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.web.i18n import load_catalogues
from tests.serving.helpers import PASSWORD, make_settings
from tests.web import live

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    root: Path = tmp_path_factory.mktemp("sign-in-tabs")
    running = live.start(make_settings(root, f"sqlite:///{root / 'web.db'}"))
    try:
        yield running
    finally:
        running.stop()


def test_a_sign_in_tab_left_open_comes_back_as_the_sign_in_page(browser, server):
    context = browser.new_context(locale="en-GB")
    try:
        left_open, other = context.new_page(), context.new_page()
        left_open.goto(f"{server.url}/ui/login")
        other.goto(f"{server.url}/ui/login")
        other.fill("#username", "commission")
        other.fill("#password", PASSWORD)
        other.press("#password", "Enter")
        other.wait_for_url("**/ui/families")

        left_open.fill("#username", "admin")
        left_open.fill("#password", PASSWORD)
        left_open.press("#password", "Enter")
        left_open.wait_for_load_state()
        assert left_open.url.endswith("/ui/login")  # refused: still the sign-in page
        assert (
            left_open.locator("#login-error").inner_text()
            == (load_catalogues()["en"]["login.stale"])
        )
        assert left_open.input_value("#username") == "admin"
        assert left_open.input_value("#password") == ""
        # The other tab's session is untouched.
        other.reload()
        assert other.url.endswith("/ui/families")

        left_open.fill("#password", PASSWORD)
        left_open.press("#password", "Enter")
        left_open.wait_for_url("**/ui/oversight")
        assert left_open.locator("h1").inner_text() == "Oversight"
    finally:
        context.close()
