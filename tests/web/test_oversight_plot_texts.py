"""The oversight plots' text alternatives start with the plot's title and give the figures as
the page shows them (review finding F11)."""

from __future__ import annotations

import html
import re
from typing import Any

from serving.web.i18n import translator
from serving.web.plots import row_label
from tests.web.helpers import decision_form


def _alts(page: str) -> list[str]:
    return [
        html.unescape(a) for a in re.findall(r'<img src="data:image/png[^"]*" alt="([^"]*)"', page)
    ]


def _titles(t: Any) -> list[str]:
    titles = [t("oversight.by_level"), t("oversight.by_region"), t("oversight.by_reason")]
    titles += [t("oversight.mean_level_by", grouping=t.label("grouping", "region"))]
    titles += [
        t("oversight.fairness_by", grouping=t.label("grouping", g))
        for g in ("settlement", "head_gender")
    ]
    return titles + [
        t("oversight.drift_of", head=t.label("head", h)) for h in ("room", "condition")
    ]


def test_oversight_plots_without_data_say_so_after_their_title(web, browser_for):
    page = browser_for("admin").get("/ui/oversight?lang=kk").text
    t = translator("kk")
    alts = _alts(page)
    assert len(alts) == 8
    for alt, title in zip(alts, _titles(t), strict=True):
        assert alt.startswith(f"{title}: "), (alt, title)
    assert sum(t("oversight.no_data") in alt for alt in alts) >= 3  # decisions, drift


def test_oversight_plots_give_their_figures_as_the_page_shows_them(web, browser_for):
    web.create_family("F1")
    commission = browser_for("commission")
    page = commission.get("/ui/families/F1").text
    form = decision_form(
        page, level="2", reason_code="income_evidence", reason="Employer letter shows arrears."
    )
    assert (
        commission.post("/ui/families/F1/decisions", data=form, follow_redirects=False).status_code
        == 303
    )
    web.services.settings.drift_alert_psi = 0.125
    page = browser_for("admin").get("/ui/oversight?lang=ru").text
    t = translator("ru")
    alts = _alts(page)
    assert alts[0].startswith(t("oversight.by_level") + ": ")
    assert t.percent(1.0) in alts[0] and "1.0" not in alts[0]  # "100 %", as in the table
    reason = row_label(t.label("reason_code", "income_evidence"))  # as the table's row
    assert alts[2] == f"{t('oversight.by_reason')}: {reason}: 1"
    intro = re.search(r'<h2 id="h-drift">.*?<p class="note">(.*?)</p>', page, re.S).group(1)
    assert t.label("drift_reference", "earlier_half") in html.unescape(intro)
    assert "0,125" in intro and "earlier half" not in intro
