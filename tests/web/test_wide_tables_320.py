"""Wide data tables at 320 CSS px (WCAG 1.4.10): each scrolls sideways in its own box, a named
region that takes keyboard focus, and the page itself never scrolls sideways."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web import live
from tests.web.live_module import live_server, signed_in_page

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NARROW = {"width": 320, "height": 640}
# (who reads it, the page, a selector of the wide table that must scroll in its own box)
PAGES = [
    ("commission", "/ui/families", "table.list"),
    ("commission", "/ui/families/F-102", "#decision table.list"),
    ("admin", "/ui/audit", "table.audit"),
    ("admin", "/ui/oversight", "#h-overrides ~ .pair table.list"),
]

BOXES = """() => [...document.querySelectorAll('main .table-scroll')].map(box => {
  const name = document.getElementById(box.getAttribute('aria-labelledby') || '');
  return {role: box.getAttribute('role'), tabIndex: box.tabIndex,
          scrolls: box.scrollWidth > box.clientWidth,
          name: name ? name.textContent.trim() : '', overflow: getComputedStyle(box).overflowX,
          right: box.getBoundingClientRect().right};
})"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    with live_server(tmp_path_factory.mktemp("wide-tables"), models=True) as running:
        yield running


@pytest.fixture(scope="module")
def pages(browser: Any, server: live.LiveServer) -> Iterator[dict[str, Any]]:
    """One page at 320 px per reader, signed in through the form."""
    context = browser.new_context(viewport=NARROW, locale="ru-RU")
    yield {who: signed_in_page(context, server, who) for who in ("commission", "admin")}
    context.close()


@pytest.mark.parametrize(("who", "path", "table"), PAGES)
def test_a_wide_table_scrolls_in_its_own_box_and_the_page_does_not(pages, server, who, path, table):
    page = pages[who]
    page.goto(f"{server.url}{path}?lang=ru")
    page_width = page.evaluate(
        "({scroll: document.scrollingElement.scrollWidth,"
        " client: document.scrollingElement.clientWidth})"
    )
    assert page_width["scroll"] <= page_width["client"], page_width
    boxes = page.evaluate(BOXES)
    assert boxes, "no table scroll box on the page"
    for box in boxes:  # each a named region, reachable with Tab while it scrolls, in the window
        assert box["role"] == "region" and box["name"], box
        assert box["tabIndex"] == (0 if box["scrolls"] else -1), box
        assert box["overflow"] == "auto" and box["right"] <= page_width["client"], box
    # The table is wider than its box, which scrolls it: from the keyboard, once focused.
    box = page.locator(table).first.locator("xpath=ancestor::*[@role='region'][1]")
    wide = box.evaluate("b => ({scroll: b.scrollWidth, client: b.clientWidth})")
    assert wide["scroll"] > wide["client"], wide
    box.focus()
    assert box.evaluate("b => b === document.activeElement")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "b => b.scrollLeft > 0", arg=box.element_handle(), polling=50, timeout=5000
    )
