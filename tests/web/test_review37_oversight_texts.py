"""The oversight page's texts: the fairness section says where the override rate by region is
shown, and every table's rows and every plot's labels name their groups alike, first letter a
capital (`row_label`): the override reasons, the drift scores and their rooms as the fairness
groups."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from serving import reports
from serving.web.i18n import translator
from serving.web.plots import row_label, tick_label
from tests.web.oversight_helpers import OVERRIDE, decide_family
from tests.web.oversight_page_helpers import (
    LANGUAGES,
    alt_names,
    oversight_page,
    table_rows,
    tick_texts,
)

# Shares of rooms on the drift's two sides (photo scores are not needed to show them).
REFERENCE = {"kitchen": 0.5, "living_room": 0.5}
CURRENT = {"kitchen": 0.25, "bedroom": 0.75}


def _with_rooms(monkeypatch: pytest.MonkeyPatch) -> None:
    """The drift of the page as the service measures it, with rooms on both sides."""
    measured = reports.serving_drift

    def with_rooms(*args: Any, **kwargs: Any) -> dict[str, Any]:
        drift = measured(*args, **kwargs)
        drift["heads"]["room"] |= {"reference": REFERENCE, "current": CURRENT}
        return drift

    monkeypatch.setattr(reports, "serving_drift", with_rooms)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_fairness_section_says_where_the_override_rate_by_region_is(web, browser_for, language):
    # Before: under fairness the region's plot shows the mean decided level, and nothing
    # there said that the override rate by region stands under overrides, above.
    decide_family(web, "F1")
    t = translator(language)
    page, _ = oversight_page(browser_for, language)
    assert '<h2 id="h-overrides">' in page
    fairness = page[page.index('id="h-fairness"') : page.index('id="h-drift"')]
    region = html.escape(t.label("grouping", "region"))
    words = html.escape(t("oversight.region_rate_above", section=t("oversight.overrides_title")))
    note = re.search(
        rf'<h3>{region}</h3>\s*<p class="note"[^>]*><a href="#h-overrides">{words}</a></p>',
        fairness,
    )
    assert note, fairness
    assert fairness.count('href="#h-overrides"') == 1  # once, under the region only


@pytest.mark.parametrize("language", LANGUAGES)
def test_override_reasons_read_as_the_fairness_groups_do(web, browser_for, language):
    # Before: "evidence of income" (the catalogue's lower case) in the table and the plot,
    # "Urban" in the fairness tables below.
    decide_family(web, "F1")
    t = translator(language)
    page, axes = oversight_page(browser_for, language)
    named = row_label(t.label("reason_code", OVERRIDE["reason_code"]))
    assert named != t.label("reason_code", OVERRIDE["reason_code"])  # a label in lower case
    assert table_rows(page, "cap-by-reason") == [named]
    title = t("oversight.by_reason")
    assert tick_texts(axes[title]) == [tick_label(named, count=1)]
    assert alt_names(page, title) == [named]


@pytest.mark.parametrize("language", LANGUAGES)
def test_drift_scores_and_rooms_read_as_the_fairness_groups_do(
    web, browser_for, monkeypatch, language
):
    # Before: "room", "condition", "kitchen", "living room" in lower case, in the tables and
    # the room plot.
    _with_rooms(monkeypatch)
    t = translator(language)
    page, axes = oversight_page(browser_for, language)
    heads = [row_label(t.label("head", head)) for head in ("room", "condition")]
    assert table_rows(page, "cap-drift") == heads
    rooms = [row_label(t.label("room", key)) for key in sorted(REFERENCE.keys() | CURRENT)]
    assert all(room[:1].isupper() for room in rooms), rooms
    assert table_rows(page, "cap-drift-room") == rooms
    title = t("oversight.drift_of", head=t.label("head", "room"))
    assert tick_texts(axes[title]) == [tick_label(room, count=len(rooms)) for room in rooms]
    assert alt_names(page, title)[: len(rooms)] == rooms  # then the PSI
