"""A wide table's scroll box is a tab stop only while it scrolls: at 320 CSS px the keyboard
reaches it (WCAG 2.1.1), at a width where the table fits Tab passes it by, and a resize
switches it either way. Without the script it stays a tab stop (the fallback: never a table
out of the keyboard's reach)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.serving.helpers import family_body
from tests.web import live
from tests.web.live_module import live_server, signed_in_page

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NARROW = {"width": 320, "height": 640}
WIDE = {"width": 1600, "height": 900}
BOX = "main .table-scroll"
MAX_TABS = 120  # more than the page's tab stops before the table's first link
# Where Tab is: the box, within the box (its table's links), or elsewhere.
WHERE = """() => { const box = document.querySelector('main .table-scroll');
  const at = document.activeElement;
  return at === box ? 'box' : box.contains(at) ? 'inside' : 'elsewhere'; }"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    with live_server(tmp_path_factory.mktemp("table-tab-stops")) as running:
        for family_id in ("F-601", "F-602"):
            created = running.api("inspector").post("/families", json=family_body(family_id))
            assert created.status_code == 201, created.text
        yield running


@pytest.fixture
def page(browser: Any, server: live.LiveServer) -> Iterator[Any]:
    """The commission's family list at 320 px, signed in through the form."""
    context = browser.new_context(viewport=NARROW, locale="en-GB")
    opened = signed_in_page(context, server, "commission")
    opened.goto(f"{server.url}/ui/families")
    yield opened
    context.close()


def _scrolls(page: Any) -> bool:
    return bool(page.eval_on_selector(BOX, "b => b.scrollWidth > b.clientWidth"))


def _tab_reaches_the_box(page: Any) -> bool:
    """Tab from the top of the page to the table's first link: whether the box was a stop."""
    page.focus("a.skip")  # the page's first tab stop
    stops = []
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        stops.append(page.evaluate(WHERE))
        if stops[-1] == "inside":
            return "box" in stops
    raise AssertionError(f"Tab never reached the table's links in {MAX_TABS} presses")


def _tab_index_becomes(page: Any, value: int) -> None:
    page.wait_for_function(
        f"() => document.querySelector({BOX!r}).tabIndex === {value}", timeout=5000
    )


def test_the_box_is_a_tab_stop_only_while_it_scrolls(page):
    assert _scrolls(page)
    _tab_index_becomes(page, 0)
    assert _tab_reaches_the_box(page)
    page.set_viewport_size(WIDE)  # the table fits: no stop that does nothing
    _tab_index_becomes(page, -1)
    assert not _scrolls(page)
    assert not _tab_reaches_the_box(page)
    page.set_viewport_size(NARROW)  # it scrolls again: the keyboard needs it again
    _tab_index_becomes(page, 0)
    assert _scrolls(page) and _tab_reaches_the_box(page)
    # Still a named region either way.
    assert page.get_attribute(BOX, "role") == "region"


def test_a_box_that_fits_from_the_start_is_no_tab_stop(browser, server):
    context = browser.new_context(viewport=WIDE, locale="en-GB")
    try:
        page = signed_in_page(context, server, "commission")
        page.goto(f"{server.url}/ui/families")
        _tab_index_becomes(page, -1)
        assert not _tab_reaches_the_box(page)
    finally:
        context.close()


def test_without_the_script_the_box_stays_a_tab_stop(browser, server):
    context = browser.new_context(viewport=WIDE, locale="en-GB", java_script_enabled=False)
    try:
        page = signed_in_page(context, server, "commission")
        page.goto(f"{server.url}/ui/families")
        assert page.get_attribute(BOX, "tabindex") == "0"
    finally:
        context.close()
