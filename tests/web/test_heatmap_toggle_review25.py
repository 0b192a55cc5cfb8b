"""Review 25 of the family page's heat maps (p504).

In a real browser: the status line and the buttons' pressed state say what the photo shows
whatever the order of a map's answer and the member's clicks (switched off while the map was
still loading, switched off once shown, the map refused). On the page: a sign the model gave
no number for keeps its row and its dash but offers no heat-map button.
"""

from __future__ import annotations

import math
import re
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.serving.helpers import PASSWORD, jpeg
from tests.web.heatmap_toggle_helpers import (
    EN,
    ORIGINAL_LOADED,
    PRESSED,
    SHOWN,
    SIGN,
    STATUS,
    WATCH_LOADS,
)
from tests.web.helpers import sign_in
from tests.web.not_home_helpers import make_a_home

# The live server is tests/web/conftest.py's `seeded_server` (tiny photo model with model.pt,
# seeded families F-101 to F-103), one of this module's own.


def _first_photo(seeded_signed_in: Any, seeded_server: Any) -> tuple[Any, Any, Any, str]:
    """The family page's first photo: (page, figure, its SIGN toggle, the photo's alt)."""
    page = seeded_signed_in("commission")
    page.goto(f"{seeded_server.url}/ui/families/F-101")
    figure = page.locator("figure.photo").first
    image = figure.locator("img")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    return (
        page,
        figure,
        figure.locator(f"button[data-heatmap$='/{SIGN}']"),
        image.get_attribute("alt"),
    )


def _switched_off_shows_the_photo(page: Any, figure: Any, toggle: Any, alt: str) -> None:
    """Click `toggle` off; once the photo itself has loaded, nothing says a map is shown."""
    image = figure.locator("img")
    image.evaluate(WATCH_LOADS)
    toggle.click()
    page.wait_for_function(ORIGINAL_LOADED, arg=image.element_handle())
    assert figure.evaluate(STATUS) == ""
    assert figure.evaluate(PRESSED) == 0
    assert image.get_attribute("src") == image.get_attribute("data-original")
    assert image.get_attribute("alt") == alt


@pytest.mark.integration
@pytest.mark.slow
def test_a_map_switched_off_while_loading_is_not_said_to_be_shown(seeded_signed_in, seeded_server):
    # Before: its onload stayed set, and the photo's own load said the map was shown.
    page, figure, toggle, alt = _first_photo(seeded_signed_in, seeded_server)
    page.route(f"**/heatmap/{SIGN}", lambda route: None)  # held: the map never answers
    toggle.click()
    assert figure.evaluate(STATUS) == EN["photo.heat_loading"]
    assert toggle.get_attribute("aria-pressed") == "true"
    _switched_off_shows_the_photo(page, figure, toggle, alt)


@pytest.mark.integration
@pytest.mark.slow
def test_a_map_switched_off_once_shown_leaves_the_photo_and_no_status(
    seeded_signed_in, seeded_server
):
    page, figure, toggle, alt = _first_photo(seeded_signed_in, seeded_server)
    toggle.click()
    page.wait_for_function(f"f => ({STATUS})(f) === {SHOWN!r}", arg=figure.element_handle())
    assert toggle.get_attribute("aria-pressed") == "true"
    _switched_off_shows_the_photo(page, figure, toggle, alt)


@pytest.mark.integration
@pytest.mark.slow
def test_a_refused_map_stays_said_refused_once_the_photo_is_back(seeded_signed_in, seeded_server):
    # Before: onerror put the photo back but left the map's onload set, so the photo's load
    # replaced "could not be shown" with "shown"; and the photo kept the map's alt text.
    page, figure, toggle, alt = _first_photo(seeded_signed_in, seeded_server)
    image = figure.locator("img")
    page.route(f"**/heatmap/{SIGN}", lambda route: route.abort())
    image.evaluate(WATCH_LOADS)
    toggle.click()
    page.wait_for_function(ORIGINAL_LOADED, arg=image.element_handle())
    assert figure.evaluate(STATUS) == EN["photo.heat_failed"]
    assert figure.evaluate(PRESSED) == 0
    assert image.get_attribute("src") == image.get_attribute("data-original")
    assert image.get_attribute("alt") == alt  # the photo's own text, not the map's


def _row(card: str, label: str) -> str:
    found = re.search(rf"<tr>\s*<th scope=\"row\">{re.escape(label)}</th>.*?</tr>", card, re.S)
    assert found, label
    return found.group(0)


@pytest.mark.parametrize("stored", [None, math.nan, math.inf], ids=["null", "nan", "inf"])
def test_a_sign_without_a_number_offers_no_heat_map(not_home_service, stored):
    # Before: the row had a heat-map button, a map drawn beside a score that is no number.
    not_home_service.create_family("F1")
    photo_id = not_home_service.upload("F1", jpeg(2)).json()["photo_id"]
    make_a_home(not_home_service, photo_id)
    from serving.db.models import Photo
    from serving.db.session import session_scope

    with session_scope(not_home_service.services.sessions) as session:
        photo = session.get_one(Photo, photo_id)
        photo.score = {**photo.score, "signs": {**photo.score["signs"], SIGN: stored}}
        others = sorted(set(photo.score["signs"]) - {SIGN})
    assert others  # the control: signs with numbers keep their buttons
    browser = TestClient(not_home_service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "commission", PASSWORD).status_code == 303
    card = re.search(
        r'<figure class="photo".*?</figure>', browser.get("/ui/families/F1?lang=en").text, re.S
    )
    assert card
    row = _row(unescape(card.group(0)), EN[f"sign.{SIGN}"])
    assert "—" in row
    assert "heat-toggle" not in row and f"/heatmap/{SIGN}" not in row
    assert row.count("<td") == 2  # the table keeps its columns
    for sign in others:
        assert f"/photos/{photo_id}/heatmap/{sign}" in _row(
            unescape(card.group(0)), EN[f"sign.{sign}"]
        )
