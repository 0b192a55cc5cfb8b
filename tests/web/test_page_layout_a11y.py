"""Layout in Chromium: a focus ring that shows on the blue header (WCAG 1.4.11), pages that
reflow at 320 CSS px (1.4.10), and live regions rendered before they speak (4.1.3)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web import live
from tests.web.live_module import live_server, signed_in_page

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NARROW = {"width": 320, "height": 640}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    with live_server(tmp_path_factory.mktemp("layout-a11y"), models=True) as running:
        yield running


@pytest.fixture
def page_for(browser: Any, server: live.LiveServer) -> Iterator[Any]:
    """Factory: a page signed in through the form as `username`, at `viewport`."""
    contexts: list[Any] = []

    def factory(username: str, viewport: dict[str, int] | None = None) -> Any:
        context = browser.new_context(
            viewport=viewport or {"width": 1280, "height": 900}, locale="en-GB"
        )
        contexts.append(context)
        return signed_in_page(context, server, username)

    yield factory
    for context in contexts:
        context.close()


def _luminance(rgb: list[float]) -> float:
    def channel(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: list[float], b: list[float]) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


# The focused element's ring, and the colour it is drawn on: what is painted at the middle of
# the ring's left side, other than the element's own text.
RING = """() => {
  const el = document.activeElement, style = getComputedStyle(el), box = el.getBoundingClientRect();
  const rgb = c => c.match(/[\\d.]+/g).map(Number);
  const width = parseFloat(style.outlineWidth), offset = parseFloat(style.outlineOffset);
  const x = box.left - offset - width / 2, y = box.top + box.height / 2;
  let behind = [255, 255, 255];
  for (const under of document.elementsFromPoint(x, y)) {
    const bg = rgb(getComputedStyle(under).backgroundColor);
    if (bg.length < 4 || bg[3] > 0) { behind = bg; break; }
  }
  return {name: el.tagName + ' ' + el.textContent.trim().slice(0, 30),
          inHeader: !!el.closest('header'), style: style.outlineStyle, width,
          ring: rgb(style.outlineColor), behind};
}"""


def test_the_focus_ring_stands_out_on_the_header_and_the_page(page_for):
    page = page_for("commission")
    rings = []
    for _ in range(12):  # the skip link, the header's links and buttons, then the page's
        page.keyboard.press("Tab")
        rings.append(page.evaluate(RING))
    assert sum(r["inHeader"] for r in rings) >= 6
    for ring in rings:
        assert ring["style"] != "none" and ring["width"] >= 2, ring
        assert _contrast(ring["ring"], ring["behind"]) >= 3, ring


def _sticking_out(page: Any) -> list[str]:
    """Elements that reach past the window's right edge outside a box that scrolls them."""
    return list(
        page.evaluate(
            """() => { const W = document.documentElement.clientWidth, out = [];
            const scrolled = el => { for (let p = el.parentElement; p && p !== document.body;
                                          p = p.parentElement)
                if (['auto', 'scroll'].includes(getComputedStyle(p).overflowX)) return true;
              return false; };
            for (const el of document.querySelectorAll('body *')) {
              const box = el.getBoundingClientRect();
              if (box.width > 1 && box.right > W + 0.5 && !scrolled(el))
                out.push(el.tagName + '.' + el.className + ' ' + Math.round(box.right));
            }
            return out; }"""
        )
    )


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_the_family_and_upload_pages_reflow_at_320_px(page_for, server, language):
    commission = page_for("commission", NARROW)
    commission.goto(f"{server.url}/ui/families/F-101?lang={language}")
    assert commission.locator("figure.photo table.signs").count() >= 1
    assert _sticking_out(commission) == []
    inspector = page_for("inspector", NARROW)
    inspector.goto(f"{server.url}/ui/upload?lang={language}")
    assert _sticking_out(inspector) == []


def test_the_header_and_the_oversight_plots_fit_320_px(page_for, server):
    page = page_for("admin", NARROW)
    page.goto(f"{server.url}/ui/oversight?lang=ru")
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.querySelector('header .who').getBoundingClientRect().right") <= (
        width
    )
    plots = page.evaluate(
        "[...document.querySelectorAll('main img')].map(i => i.getBoundingClientRect().right)"
    )
    assert len(plots) >= 4 and max(plots) <= width
    # A fairness table beside its plot scrolls in its own box, not the page.
    boxes = page.evaluate(
        """[...document.querySelectorAll('.pair > div')].map(d => ({
            right: d.getBoundingClientRect().right, overflow: getComputedStyle(d).overflowX}))"""
    )
    assert boxes and all(b["right"] <= width and b["overflow"] == "auto" for b in boxes)


def test_live_regions_are_rendered_before_they_speak(page_for, server):
    page = page_for("commission")
    page.goto(f"{server.url}/ui/families/F-101")
    regions = page.evaluate(
        """[...document.querySelectorAll('.heat-status, #decision-draft')].map(el => ({
            id: el.id || el.className, hidden: el.hidden, text: el.textContent,
            display: getComputedStyle(el).display, height: el.getBoundingClientRect().height}))"""
    )
    assert len(regions) >= 4  # three photos' heat-map status, and the decision draft's
    for region in regions:
        assert not region["hidden"] and region["display"] != "none", region
        assert region["text"] == "" and region["height"] == 0, region  # empty: takes no room
