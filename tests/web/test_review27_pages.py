"""Small page defects (review 27): a photo refused for its size names the limit and what to do;
the oversight plots write percentages and counts as the page beside them does; the navigation
marks the page the reader is on; the decision reason's maxlength is the service's limit."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.web.i18n import load_catalogues, translator
from serving.web.plots import row_label
from tests.serving.decision_helpers import assess
from tests.serving.helpers import Service, jpeg, started
from tests.web.helpers import ERROR_CARD, csrf_from, page_client

RU = load_catalogues()["ru"]


def _send(client: Any, photo: bytes) -> Any:
    """One photo for family F1 through the page's form, without the page's script."""
    token = csrf_from(client.get("/ui/upload").text)
    return client.post(
        "/ui/upload",
        data={"csrf_token": token, "family_id": "F1"},
        files=[("files", ("big.jpg", photo, "image/jpeg"))],
    )


def _attribute(page: str, name: str) -> str:
    found = re.search(rf'{name}="([^"]*)"', page)
    assert found, f"the page has no {name}"
    return html.unescape(found.group(1))


# --- a photo over a size limit ----------------------------------------------------------------


def test_a_photo_over_the_byte_limit_is_told_the_limit_in_mb_and_what_to_do(web, max_bytes):
    web.create_family("F1")
    max_bytes(250_000)  # the body limit (32 MiB) lets it in; the route refuses it
    inspector = page_client(web, "inspector", "ru")
    photo = jpeg(1, size=(1600, 1200))
    assert len(photo) > 250_000
    answer = _send(inspector, photo)
    assert answer.status_code == 200
    told = RU["upload_error.body_too_large"].format(mb="0,2")
    assert [html.unescape(c.strip()) for c in ERROR_CARD.findall(answer.text)] == [told]
    assert "0,2\u00a0МБ" in told and "{" not in told
    # The page's script says the same for a photo it does not send, from the same size on.
    page = inspector.get("/ui/upload").text
    assert _attribute(page, "data-too-large") == told
    assert _attribute(page, "data-max-bytes") == "250001"


@pytest.fixture
def few_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    """A started app whose pixel limit (io.max_pixels) is 0.3 MP, under a 640 x 480 photo."""
    from shanyraq.config import get_settings

    monkeypatch.setenv("SHANYRAQ_IO__MAX_PIXELS", "300000")
    get_settings.cache_clear()
    try:
        with started(tmp_path) as service:
            yield service
    finally:
        monkeypatch.delenv("SHANYRAQ_IO__MAX_PIXELS")
        get_settings.cache_clear()


def test_a_photo_over_the_pixel_limit_is_told_the_limit_in_megapixels(few_pixels):
    few_pixels.create_family("F1")
    answer = _send(page_client(few_pixels, "inspector", "ru"), jpeg(2, size=(640, 480)))
    assert answer.status_code == 200
    told = RU["upload_error.image_too_large"].format(mp="0,3")
    assert [html.unescape(c.strip()) for c in ERROR_CARD.findall(answer.text)] == [told]
    assert "0,3\u00a0мегапикселей" in told


# --- the oversight plots ------------------------------------------------------------------------


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures the oversight plots encode, in order, each drawn as the page's PNG is."""
    from tests.web.oversight_page_helpers import read_figures

    return read_figures(monkeypatch)


def _ticks(figure: Any) -> list[tuple[float, str]]:
    axes = figure.axes[0]
    return [(float(tick.get_loc()), tick.label1.get_text()) for tick in axes.yaxis.majorTicks]


STATS = {
    "by_level": {3: {"override_rate": 0.25}, 4: {"override_rate": 0.5}},
    "by_region": {"shymkent": {"override_rate": 0.1}},
    "by_reason": {"income_evidence": 1234, "other": 40},
}
DRIFT = {
    "heads": {
        "room": {
            "reference": {"kitchen": 0.6, "bedroom": 0.4},
            "current": {"kitchen": 0.3, "bedroom": 0.7},
            "psi": 0.4,
        }
    },
    "alert_psi": 0.25,
}


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_plot_axes_write_percentages_and_counts_as_the_tables_do(drawn, language):
    from serving.web.routes import oversight

    t = translator(language)
    oversight._override_plots(t, STATS)
    rows = oversight._drift_rows(t, DRIFT)
    oversight._drift_plots(t, DRIFT, rows, oversight._psi_shown(t, DRIFT))
    by_level, by_region, by_reason, drift = drawn
    for figure in (by_level, by_region, drift):
        ticks = _ticks(figure)
        assert ticks and [text for _, text in ticks] == [t.percent(at) for at, _ in ticks]
    counts = _ticks(by_reason)
    assert [text for _, text in counts] == [t.number(at) for at, _ in counts]
    assert any(at >= 1000 for at, _ in counts)  # a tick that is grouped: "1,000", "1 000"


def test_percentages_in_russian_plots_have_the_space_of_the_pages(drawn):
    from serving.web.routes import oversight

    oversight._override_plots(translator("ru"), STATS)
    shown = [text for _, text in _ticks(drawn[0])]
    assert shown == [f"{n}\u00a0%" for n in range(0, 101, 20)]  # as the table: "25 %"


@pytest.mark.parametrize(("language", "grouped"), [("en", "1,234"), ("ru", "1\u00a0234")])
def test_the_reason_plots_text_alternative_groups_its_counts(language, grouped):
    from serving.web.routes import oversight

    t = translator(language)
    alt = oversight._override_plots(t, STATS)["reason"].alt
    assert f"{row_label(t.label('reason_code', 'income_evidence'))}: {grouped}" in alt
    assert "1234" not in alt


# --- the navigation ------------------------------------------------------------------------------


def _marked(page: str) -> dict[str, str]:
    """The header's navigation links marked current: their address and aria-current."""
    nav = re.search(r'<nav aria-label="[^"]*">\s*<ul>.*?</ul>', page, re.S)
    assert nav, "the page has no navigation"
    return dict(re.findall(r'<a href="([^"]+)" aria-current="([^"]+)"', nav.group(0)))


def test_the_navigation_marks_the_page_and_on_a_family_the_section(web, browser_for):
    web.create_family("F1")
    commission = browser_for("commission")
    assert _marked(commission.get("/ui/families").text) == {"/ui/families": "page"}
    # A family's page is not the list the link leads to: the link is marked as its section.
    assert _marked(commission.get("/ui/families/F1").text) == {"/ui/families": "true"}
    admin = browser_for("admin")
    assert _marked(admin.get("/ui/oversight").text) == {"/ui/oversight": "page"}
    assert _marked(admin.get("/ui/audit").text) == {"/ui/audit": "page"}
    assert _marked(browser_for("inspector").get("/ui/upload?family=F1").text) == {
        "/ui/upload": "page"
    }


# --- the decision reason's limit -----------------------------------------------------------------


def test_the_reason_fields_maxlength_is_the_limit_the_service_checks(tmp_path):
    """The limit has one source (configs/serving.yaml reason_chars.decision_max): a service
    started with another, its form's maxlength and its refusal both follow it."""
    with started(tmp_path, reason_chars={"decision_max": 120}) as web:
        web.create_family("F1")
        aid = assess(web, level=3)
        commission = page_client(web, "commission")
        page = commission.get("/ui/families/F1").text
        textarea = re.search(r'<textarea id="reason"[^>]*>', page)
        assert textarea and 'maxlength="120"' in textarea.group(0), textarea
        form = {
            "csrf_token": csrf_from(page), "kind": "override", "level": "2",
            "reason_code": "income_evidence", "reason": "x" * 121, "assessment_id": str(aid),
        }  # fmt: skip
        refused = commission.post("/ui/families/F1/decisions", data=form, follow_redirects=False)
    assert refused.status_code == 422
    assert 'maxlength="120"' in refused.text  # the form shown again keeps the same limit
