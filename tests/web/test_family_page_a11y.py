"""The family page by keyboard and screen reader, in a real browser (Chromium via Playwright).

Where a refused or a recorded decision lands (and focus with it), what a photo's text and
heading say, the heat map's legend and where its photo is when it changes, the way from the
top to the decision form, and the recommendation band read without colour.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from serving.web.i18n import Translator, load_catalogues
from tests.web.browser_helpers import assert_accessible
from welfare.criteria import get_welfare_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The live server is tests/web/conftest.py's `seeded_server` (tiny photo model with model.pt,
# seeded families F-101 to F-103): one of this module's own, so its decisions stay here.

EN = load_catalogues()["en"]
FULLY_IN_VIEW = (  # to the pixel: layout positions are fractional
    "e => { const r = e.getBoundingClientRect(); return r.top > -1 && r.bottom < innerHeight + 1; }"
)
FOCUSED = "() => document.activeElement.id"


def _in_view(locator: Any) -> bool:
    """Whether the element is fully in the window once the page has settled.

    Scrolling to a focused element or a fragment lands in the frame after the load the
    test waited for (the moment varies under load), so this waits up to 5 s for it and
    says False only when it never happens.
    """
    from playwright.sync_api import TimeoutError as NeverInView  # lazily, as conftest.py

    try:
        locator.page.wait_for_function(FULLY_IN_VIEW, arg=locator.element_handle(), timeout=5000)
    except NeverInView:
        return False
    return True


def _family(seeded_signed_in: Any, seeded_server: Any, family_id: str = "F-101") -> Any:
    page = seeded_signed_in("commission")
    page.goto(f"{seeded_server.url}/ui/families/{family_id}")
    return page


def _send_by_keyboard(page: Any) -> Any:
    """Enter on the decision form's button; the answer to the form."""
    page.locator("#decision-form button[type=submit]").focus()
    with page.expect_navigation() as answer:
        page.keyboard.press("Enter")
    return answer.value


def test_a_refused_decision_opens_on_its_error_with_focus_and_a_link_to_the_field(
    seeded_signed_in, seeded_server
):
    page = _family(seeded_signed_in, seeded_server)
    page.check("input[name=kind][value=override]")  # and no level chosen
    answer = _send_by_keyboard(page)
    assert answer.status == 422
    summary = page.locator("#decision-error-summary")
    assert page.evaluate(FOCUSED) == "decision-error-summary"  # not the page's body
    assert _in_view(summary)  # not 2,500 px below the top the page opened at
    assert page.locator("#decision-error").inner_text().startswith(EN["decision.refused"])
    assert summary.get_attribute("aria-labelledby") == "decision-error"
    page.keyboard.press("Tab")  # the summary's link to the field at fault
    link = summary.locator("a")
    assert link.inner_text() == EN["decision.go_to_field"].format(field=EN["decision.level"])
    assert page.evaluate("() => document.activeElement.matches('#decision-error-summary a')")
    page.keyboard.press("Enter")
    assert page.evaluate(FOCUSED) == "decided-level"
    assert page.locator("#decided-level").get_attribute("aria-invalid") == "true"
    assert_accessible(page)


def test_a_recorded_decision_is_confirmed_where_the_member_lands(seeded_signed_in, seeded_server):
    page = _family(seeded_signed_in, seeded_server)
    latest = seeded_server.api("commission").get("/families/F-101/assessments/latest").json()
    decided = 1 if latest["level"] != 1 else 6
    page.check("input[name=kind][value=override]")
    page.select_option("#decided-level", str(decided))
    page.select_option("#reason-code", "household_changed")
    page.fill("#reason", "The grandmother moved in with them in April.")
    assert _send_by_keyboard(page).status == 200
    assert re.search(r"/ui/families/F-101\?decided=\d+#decision-recorded$", page.url), page.url
    confirmation = page.locator("p.ok[role=status]")
    assert confirmation.inner_text() == EN["decision.recorded"]
    assert page.evaluate(FOCUSED) == "decision-recorded"  # read out: it has focus
    assert _in_view(confirmation)
    said = page.locator("#decision-recorded-what")
    assert said.inner_text() == EN["decision.recorded_what"].format(
        kind=EN["decision_kind.override"], level=EN[f"level.{decided}"]
    )
    assert _in_view(said)
    assert confirmation.get_attribute("aria-describedby") == "decision-recorded-what"


def test_photo_texts_give_the_inspectors_room_and_the_systems_guess_as_a_guess(
    seeded_signed_in, seeded_server
):
    page = _family(seeded_signed_in, seeded_server)
    rooms = [EN[f"room.{r}"] for r in ("kitchen", "bedroom", "living_room")]  # as filed
    alts = page.locator("figure.photo img").evaluate_all("images => images.map(i => i.alt)")
    assert alts == [EN["photo.alt_noted"].format(n=n, room=r) for n, r in enumerate(rooms, 1)]
    headings = [EN["photo.heading_noted"].format(n=n, room=r) for n, r in enumerate(rooms, 1)]
    assert page.locator("#h-photos ~ .photos h3").all_inner_texts() == headings
    for heading in headings:  # each card is named by its heading, not by its whole caption
        assert page.get_by_role("figure", name=heading, exact=True).count() == 1

    page.goto(f"{seeded_server.url}/ui/families/F-102")  # its second photo: no room noted
    second = page.locator("figure.photo").nth(1)
    assert second.locator("h3").inner_text() == EN["photo.number"].format(n=2)
    guess = re.fullmatch(
        rf"{EN['photo.room']}: (.+) \((\d+%)\)", second.locator("details summary").inner_text()
    )
    assert guess, "the model's room guess is shown with its probability"
    assert second.locator("img").get_attribute("alt") == EN["photo.alt_guess"].format(
        n=2, room=guess.group(1), p=guess.group(2)
    )
    assert page.get_by_role("figure", name=EN["photo.number"].format(n=2), exact=True).count() == 1


def test_a_heat_map_has_a_legend_and_its_photo_comes_into_view(seeded_signed_in, seeded_server):
    page = _family(seeded_signed_in, seeded_server)
    figure = page.locator("figure.photo").first
    legend = figure.locator(".heat-legend")
    assert legend.is_hidden()  # no map shown yet: nothing for a legend to explain
    image, signs = figure.locator("img"), figure.locator("table.signs")

    toggle = figure.locator("button[data-heatmap$='/damp_mould']")
    # The button a third down the screen, the photo scrolled away above it (as the review
    # found it with the legend, since shown only with a map, between the two).
    toggle.evaluate("b => window.scrollBy(0, b.getBoundingClientRect().top - innerHeight / 3)")
    assert image.evaluate("e => e.getBoundingClientRect().bottom") < 0
    toggle.focus()
    page.keyboard.press("Enter")
    shown_text = EN["photo.heat_shown"].format(sign=EN["sign.damp_mould"])
    page.wait_for_function(  # the status says the map is shown once it has loaded
        "text => document.querySelector('figure.photo .heat-status').textContent === text",
        arg=shown_text,
    )
    assert image.get_attribute("alt") == EN["photo.heat_alt"].format(
        n=1, sign=EN["sign.damp_mould"]
    )
    words = [EN["photo.heat_legend"], EN["photo.heat_weak"], EN["photo.heat_strong"]]
    assert legend.inner_text().split() == " ".join(words).split()
    assert legend.locator(".heat-scale").get_attribute("aria-hidden") == "true"
    top = "e => e.getBoundingClientRect().top"
    assert image.evaluate(top) < legend.evaluate(top) < signs.evaluate(top)
    assert _in_view(toggle)  # focus stays in sight
    # The photo back in view, as far as the button allows (the two need more than 900 px).
    shown = image.evaluate(
        "e => { const r = e.getBoundingClientRect();"
        " return (Math.min(r.bottom, innerHeight) - Math.max(r.top, 0)) / r.height; }"
    )
    assert shown > 0.75, shown
    assert page.evaluate("() => document.activeElement.getAttribute('aria-pressed')") == "true"


def test_the_decision_form_is_reached_from_the_top_of_the_page_in_a_few_keys(
    seeded_signed_in, seeded_server
):
    page = _family(seeded_signed_in, seeded_server)
    page.evaluate("() => { window.scrollTo(0, 0); document.activeElement.blur(); }")
    stops = []
    for _ in range(30):
        page.keyboard.press("Tab")
        stops.append(page.evaluate("() => document.activeElement.getAttribute('href') || ''"))
        if stops[-1] == "#decision":
            break
    assert stops[-1] == "#decision", stops  # before every photo's heat-map buttons
    link = page.locator("nav.page-nav a[href='#decision']")
    assert link.inner_text() == EN["decision.title"]
    assert page.locator("nav.page-nav").get_attribute("aria-label") == EN["family.page_nav"]
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.name") == "kind"  # the form's first field
    assert page.locator("#decision-form").evaluate(
        "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight; }"
    )


def _contrast(a: str, b: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"\d+", colour)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_recommendation_band_is_labelled_in_text_not_colour_alone(
    seeded_signed_in, seeded_server
):
    page = _family(seeded_signed_in, seeded_server)
    band = page.locator("svg.band")
    # The band says what the probability line and the legend say; assistive technology
    # reads those, not the picture.
    assert band.get_attribute("aria-hidden") == "true"
    recommendation = get_welfare_config().recommendation
    thresholds = (
        recommendation.not_eligible_max_probability,
        recommendation.eligible_min_probability,
    )
    pct = Translator("en", load_catalogues()).percent
    assert band.locator("text").all_text_contents() == [pct(x) for x in thresholds]
    legend = page.locator("p.legend").inner_text()
    assert all(pct(x) in legend for x in thresholds)
    colours = band.evaluate(
        """svg => ({
            edges: [...svg.querySelectorAll('line.band-edge')].map(e => getComputedStyle(e).stroke),
            fills: ['.band-no', '.band-review', '.band-yes'].map(
                s => getComputedStyle(svg.querySelector(s)).fill),
        })"""
    )
    assert len(colours["edges"]) == 2  # one dark edge at each threshold, between the ranges
    assert min(_contrast(e, f) for e in colours["edges"] for f in colours["fills"]) >= 3.0
