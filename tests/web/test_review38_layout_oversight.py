"""The oversight page on a phone (360 px), in English, Russian and Kazakh: the fairness tables'
column headers read in two lines at most (the table scrolls in its box), and the plots' tick
labels, legends and in-plot words stay legible where the plot shrinks to the window's width,
nothing running past the window."""

from __future__ import annotations

from typing import Any

import pytest

from serving.web.i18n import translator
from tests.serving.helpers import OTHER_REGION
from tests.web.live_module import measured
from tests.web.oversight_helpers import decide_family
from tests.web.oversight_page_helpers import oversight_page

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PHONE = {"width": 360, "height": 740}
# Each column header of the fairness tables: its text and how many lines it takes (its text's
# line boxes).
HEADERS = """() => [...document.querySelectorAll('main table')]
  .filter(table => (table.querySelector('caption') || {}).id?.startsWith('cap-fairness-'))
  .flatMap(table => [...table.querySelectorAll('thead th')]).map(th => {
    const range = document.createRange();
    range.selectNodeContents(th);
    const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
    return {text: th.textContent.trim(), lines: tops.size};
  })"""
# Each plot's width as shown (its content box, inside the border) and its right edge.
PLOTS = """() => [...document.querySelectorAll('main .pair img')].map(img => ({
  width: img.clientWidth, right: img.getBoundingClientRect().right}))"""
PAGE_WIDTH = """() => ({scroll: document.scrollingElement.scrollWidth,
  client: document.scrollingElement.clientWidth})"""
# The smallest text a plot may show on a phone, in CSS px. The plot is a picture, so its text
# shrinks with it: at 360 px the panel leaves it about 292 px of its 500. Below 9 px the
# labels of a chart are hard to make out at a phone's reading distance (the page's own
# smallest text is 12.8 px); the reader can still zoom into the picture, drawn at twice the
# size it is shown at, for more.
MIN_PLOT_TEXT_PX = 9.0


def _measure(browser: Any, server: Any, language: str) -> Any:
    return measured(browser, server, "/ui/oversight", language=language, viewport=PHONE,
                    scripts=[HEADERS, PLOTS, PAGE_WIDTH])  # fmt: skip


def _plot_texts(axes: Any) -> list[Any]:
    """The texts a plot shows that a reader reads its figures by: the ticks' labels on both
    axes (where it draws axes), the legend's, its title and its words in the plot ("no data").
    The y axis's name is left out: it runs along the axis, whose length the slanted labels
    under many bars leave short, and the title above says the same larger."""
    texts = [axes.title, *axes.texts]
    if axes.axison:
        texts += [*axes.get_xticklabels(), *axes.get_yticklabels()]
    legend = axes.get_legend()
    if legend is not None:
        texts += legend.get_texts()
    return [text for text in texts if text.get_text().strip()]


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_the_fairness_headers_take_two_lines_at_most_on_a_phone(browser, seeded_server, language):
    # Before: "Mean decided level" stood a word a line (three lines in English, four in
    # Russian and Kazakh), and in Kazakh the override rate's header took three.
    headers, _, width = _measure(browser, seeded_server, language)
    mean_level = translator(language)("oversight.mean_level")
    assert [h for h in headers if h["text"] == mean_level], headers
    assert [h for h in headers if h["lines"] > 2] == [], headers
    assert width["scroll"] <= width["client"], width  # the tables scroll in their boxes


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_the_plots_text_stays_legible_on_a_phone(
    browser, seeded_server, web, browser_for, language
):
    # Before: the ticks were drawn at 8 pt (the y axis's at 10 pt) in a picture 5 inches
    # wide, shown 292 px wide: 6.5 px (8.1 px), too small to read.
    _, plots, width = _measure(browser, seeded_server, language)
    assert len(plots) == 8, plots
    assert width["scroll"] <= width["client"], width
    assert all(plot["right"] <= width["client"] for plot in plots), plots
    shown = min(plot["width"] for plot in plots)
    decide_family(web, "F1")  # figures in every group plot, so each has its ticks
    decide_family(web, "F2", region=OTHER_REGION)
    _, figures = oversight_page(browser_for, language)
    assert len(figures) == 8, list(figures)
    small = []
    for title, axes in figures.items():
        scale = shown / axes.figure.get_figwidth()  # CSS px per inch of the figure
        for text in _plot_texts(axes):
            size = text.get_fontsize() / 72 * scale
            if size < MIN_PLOT_TEXT_PX:
                small.append((title, text.get_text(), round(size, 2)))
    assert small == [], small
