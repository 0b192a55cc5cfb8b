"""The oversight page's plots and tables in a real browser: at 1280 px no table scrolls
sideways in its box (a table too wide to stand beside its plot stands under it, as wide as the
panel), in English, Russian and Kazakh; at 360 px the plot and its table stand one above the
other within the window, a wide table scrolling in its own box."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.live_module import measured

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PHONE = {"width": 360, "height": 740}
DESK = {"width": 1280, "height": 900}

# Each plot-and-table pair: the plot's and the table box's edges, the box's widths, its name.
PAIRS = """() => [...document.querySelectorAll('main .pair')].map(pair => {
  const plot = pair.querySelector('img').getBoundingClientRect();
  const box = pair.querySelector('.table-scroll');
  const edges = box.getBoundingClientRect();
  return {name: box.getAttribute('aria-labelledby'), scroll: box.scrollWidth,
          client: box.clientWidth, plot: [plot.left, plot.top, plot.right, plot.bottom],
          box: [edges.left, edges.top, edges.right, edges.bottom]};
})"""
# Every table box of the page (those outside a pair too), with its widths.
BOXES = """() => [...document.querySelectorAll('main .table-scroll')].map(box => ({
  name: box.getAttribute('aria-labelledby'), scroll: box.scrollWidth, client: box.clientWidth}))"""
PAGE_WIDTH = """() => ({scroll: document.scrollingElement.scrollWidth,
  client: document.scrollingElement.clientWidth})"""
# Each line of a note under a table inside a box that scrolls, with the box's right edge: the
# box's shadow there (.8rem) says there is more to the right, and greys what it lies under.
NOTES = """() => [...document.querySelectorAll('main .table-scroll > p')]
  .filter(p => p.parentElement.scrollWidth > p.parentElement.clientWidth).map(p => {
  const range = document.createRange();
  range.selectNodeContents(p);
  return {text: p.textContent.trim(), edge: p.parentElement.getBoundingClientRect().right,
          ends: [...range.getClientRects()].map(r => r.right)};
})"""
SHADOW_PX = 12.8


def _measure(browser: Any, server: Any, viewport: dict[str, int], language: str) -> Any:
    scripts = [PAIRS, BOXES, PAGE_WIDTH, NOTES]
    return measured(browser, server, "/ui/oversight", language=language, viewport=viewport,
                    scripts=scripts)  # fmt: skip


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] - 1 and b[0] < a[2] - 1 and a[1] < b[3] - 1 and b[1] < a[3] - 1


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_no_oversight_table_scrolls_sideways_at_1280_px(browser, seeded_server, language):
    # Before: the plot took 500 px of the pair and the fairness tables (six columns) the rest,
    # too little: the tables by region and by head of family scrolled in their boxes (in
    # Russian the one by settlement and the overrides by level too).
    pairs, boxes, width, _ = _measure(browser, seeded_server, DESK, language)
    assert len(pairs) >= 8, pairs
    scrolling = [box for box in boxes if box["scroll"] > box["client"]]
    assert scrolling == [], scrolling
    assert width["scroll"] <= width["client"], width
    for pair in pairs:  # beside its plot or under it, never over it
        assert not _overlap(pair["plot"], pair["box"]), pair
    # A narrow table (a drift's three columns) still stands beside its plot.
    drift = [pair for pair in pairs if pair["name"].startswith("cap-drift-")]
    assert drift and all(pair["box"][0] >= pair["plot"][2] for pair in drift), drift


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_on_a_phone_a_plot_stands_over_its_table_within_the_window(
    browser, seeded_server, language
):
    pairs, _, width, notes = _measure(browser, seeded_server, PHONE, language)
    assert pairs, "no plot on the page"
    assert width["scroll"] <= width["client"], width
    for pair in pairs:
        assert pair["box"][1] >= pair["plot"][3] - 1, pair  # under the plot
        assert pair["plot"][2] <= width["client"] and pair["box"][2] <= width["client"], pair
    # Before: the notes under the fairness and drift tables ran to the box's edge, greyed by
    # the shadow that shows the table goes on to the right.
    assert notes, "no note under a table that scrolls"
    shaded = [n["text"] for n in notes if max(n["ends"]) > n["edge"] - SHADOW_PX]
    assert shaded == [], notes
