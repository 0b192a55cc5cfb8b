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
from serving.web import plots
from serving.web.i18n import translator
from serving.web.plots import row_label, tick_label
from tests.web.oversight_helpers import OVERRIDE, decide_family

LANGUAGES = ["en", "ru", "kk"]
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


def _page(browser_for: Any, language: str) -> tuple[str, dict[str, Any]]:
    """The page as the national admin reads it, and its plots' axes by title."""
    figures: list[Any] = []
    encode = plots._encode

    def kept(figure: Any) -> str:
        figures.append(figure)
        return encode(figure)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plots, "_encode", kept)
        page = browser_for("admin_national").get(f"/ui/oversight?lang={language}").text
    return page, {figure.axes[0].get_title(): figure.axes[0] for figure in figures}


def _rows(page: str, caption_id: str) -> list[str]:
    """The row headers of the table captioned `caption_id`."""
    table = re.search(rf'<caption[^>]*id="{caption_id}".*?</table>', page, re.S)
    assert table, caption_id
    found = re.findall(r'<th scope="row">(.*?)</th>', table.group(0), re.S)
    return [html.unescape(row).strip() for row in found]


def _alt_names(page: str, title: str) -> list[str]:
    """The groups a plot's text alternative names, in order."""
    alts = [html.unescape(a) for a in re.findall(r'<img src="data:[^"]*" alt="([^"]*)"', page)]
    (alt,) = [a for a in alts if a.startswith(f"{title}: ")]
    return [item.split(": ")[0] for item in alt[len(title) + 2 :].split("; ")]


def _ticks(axes: Any) -> list[str]:
    return [label.get_text() for label in axes.get_xticklabels()]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_fairness_section_says_where_the_override_rate_by_region_is(web, browser_for, language):
    # Before: under fairness the region's plot shows the mean decided level, and nothing
    # there said that the override rate by region stands under overrides, above.
    decide_family(web, "F1")
    t = translator(language)
    page, _ = _page(browser_for, language)
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
    page, axes = _page(browser_for, language)
    named = row_label(t.label("reason_code", OVERRIDE["reason_code"]))
    assert named != t.label("reason_code", OVERRIDE["reason_code"])  # a label in lower case
    assert _rows(page, "cap-by-reason") == [named]
    title = t("oversight.by_reason")
    assert _ticks(axes[title]) == [tick_label(named, count=1)]
    assert _alt_names(page, title) == [named]


@pytest.mark.parametrize("language", LANGUAGES)
def test_drift_scores_and_rooms_read_as_the_fairness_groups_do(
    web, browser_for, monkeypatch, language
):
    # Before: "room", "condition", "kitchen", "living room" in lower case, in the tables and
    # the room plot.
    _with_rooms(monkeypatch)
    t = translator(language)
    page, axes = _page(browser_for, language)
    heads = [row_label(t.label("head", head)) for head in ("room", "condition")]
    assert _rows(page, "cap-drift") == heads
    rooms = [row_label(t.label("room", key)) for key in sorted(REFERENCE.keys() | CURRENT)]
    assert all(room[:1].isupper() for room in rooms), rooms
    assert _rows(page, "cap-drift-room") == rooms
    title = t("oversight.drift_of", head=t.label("head", "room"))
    assert _ticks(axes[title]) == [tick_label(room, count=len(rooms)) for room in rooms]
    assert _alt_names(page, title)[: len(rooms)] == rooms  # then the PSI
