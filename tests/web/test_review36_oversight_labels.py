"""The oversight page's plots name the groups as the tables' rows do (first letter a capital)
and show no picture twice: the fairness section plots, by region, the mean decided level
that the overrides section's plot of the override rate by region does not show."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from serving.web.i18n import translator
from serving.web.plots import row_label, tick_label
from tests.serving.helpers import OTHER_REGION, REGION
from tests.web.oversight_helpers import OVERRIDE, decide_family
from tests.web.oversight_page_helpers import read_figures
from welfare.criteria import get_welfare_config

LANGUAGES = ["en", "ru", "kk"]


def _oversight(
    browser_for: Any, who: str, language: str
) -> tuple[list[tuple[str, str]], list[Any]]:
    """The oversight page's plots as `who` reads them in `language`: (data URI, text
    alternative as read) in order, and the figures its plots encoded, in order."""
    client = browser_for(who)
    with pytest.MonkeyPatch.context() as patch:
        figures = read_figures(patch)
        page = client.get(f"/ui/oversight?lang={language}").text
    found = re.findall(r'<img src="(data:image/png[^"]*)" alt="([^"]*)"', page)
    return [(uri, html.unescape(alt)) for uri, alt in found], figures


def _by_title(figures: list[Any]) -> dict[str, Any]:
    return {figure.axes[0].get_title(): figure.axes[0] for figure in figures}


def _ticks(axes: Any) -> list[str]:
    return [label.get_text() for label in axes.get_xticklabels()]


def _bars(axes: Any) -> list[float]:
    return [round(bar.get_height(), 6) for bar in axes.patches]


def test_a_row_label_capitalises_the_first_letter_only():
    assert row_label("urban") == "Urban"
    assert row_label("глава семьи — женщина") == "Глава семьи — женщина"
    assert row_label("әйел") == "Әйел"
    assert row_label("north of Almaty") == "North of Almaty"  # not "North of almaty"
    assert row_label("") == ""


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_fairness_plots_name_groups_as_the_tables_rows_do(web, browser_for, language):
    # Before: the ticks read "urban", "woman head of family" (the catalogue's lower case)
    # while the tables beside them read "Urban", "Woman head of family".
    decide_family(web, "F1")
    decide_family(web, "F2", region=OTHER_REGION)
    t = translator(language)
    images, drawn = _oversight(browser_for, "admin_national", language)
    axes = _by_title(drawn)
    for grouping, keys in (("settlement", ("urban", "rural")), ("head_gender", ("female", "male"))):
        title = t("oversight.fairness_by", grouping=t.label("grouping", grouping))
        ticks = _ticks(axes[title])
        rows = [row_label(t.label(grouping, k)) for k in keys]
        assert ticks and set(ticks) <= {tick_label(r, count=len(ticks)) for r in rows}, ticks
        (alt,) = [alt for _, alt in images if alt.startswith(f"{title}: ")]
        named = [item.rsplit(": ", 1)[0] for item in alt[len(title) + 2 :].split("; ")]
        assert named and set(named) <= set(rows), alt


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_plot_on_the_page_draws_the_same_figures_twice(web, browser_for, language):
    # Before: "override rate by region" stood under overrides and again under fairness, the
    # same bars (in English the same picture, in Russian and Kazakh under another title).
    decide_family(web, "F1")
    decide_family(web, "F2", region=OTHER_REGION)
    images, drawn = _oversight(browser_for, "admin_national", language)
    assert len(images) == 8
    assert len({uri for uri, _ in images}) == len(images)
    shown = [
        (tuple(_ticks(f.axes[0])), tuple(_bars(f.axes[0]))) for f in drawn if f.axes[0].patches
    ]
    assert len(set(shown)) == len(shown), shown


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_fairness_plot_by_region_shows_the_mean_decided_level(web, browser_for, language):
    decide_family(web, "F1")
    t = translator(language)
    images, drawn = _oversight(browser_for, "admin", language)
    title = t("oversight.mean_level_by", grouping=t.label("grouping", "region"))
    axes = _by_title(drawn)[title]
    assert _bars(axes) == [OVERRIDE["level"]]  # the one family's decided level
    assert axes.get_ylabel() == t("oversight.mean_level")
    assert axes.get_ylim() == (0, max(get_welfare_config().level_values))  # the levels' scale
    region = row_label(t.label("region", REGION))
    mean = t.fixed(OVERRIDE["level"], 2)
    assert [alt for _, alt in images if alt.startswith(f"{title}: ")] == [
        f"{title}: {region}: {mean}"
    ]
