"""A photo card's heat-map legend is shown only while that card's photo shows a heat map: not
under every card from the start, not while a map is still loading, not after it is switched
off or refused, and not on the other cards. Without the script no map can be shown, and no
legend is."""

from __future__ import annotations

from typing import Any

import pytest

# The toggle's sign, and how its tests read a card's status and see the photo load again.
from tests.web.heatmap_toggle_helpers import (
    EN,
    ORIGINAL_LOADED,
    SHOWN,
    SIGN,
    STATUS,
    WATCH_LOADS,
)
from tests.web.live_module import signed_in_page

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The live server is tests/web/conftest.py's `seeded_server` (tiny photo model with model.pt,
# seeded families F-101 to F-103), one of this module's own. F-101 has three photos.

# Of each card, in order: whether its legend (both lines) is on screen.
LEGENDS_SHOWN = (
    "() => [...document.querySelectorAll('figure.photo')].map(f =>"
    " [...f.querySelectorAll('.heat-legend, .heat-flat')].every(e => e.checkVisibility())"
    " && f.querySelectorAll('.heat-legend, .heat-flat').length === 2)"
)


def _family(page: Any, url: str) -> tuple[Any, Any]:
    """F-101's page with its photos loaded: (its first card, that card's SIGN toggle)."""
    page.goto(f"{url}/ui/families/F-101")
    figure = page.locator("figure.photo").first
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0",
        arg=figure.locator("img").element_handle(),
    )
    return figure, figure.locator(f"button[data-heatmap$='/{SIGN}']")


def _shown(page: Any, figure: Any) -> None:
    page.wait_for_function(f"f => ({STATUS})(f) === {SHOWN!r}", arg=figure.element_handle())


def test_the_legend_shows_only_under_the_card_whose_map_is_shown(seeded_signed_in, seeded_server):
    page = seeded_signed_in("commission")
    figure, toggle = _family(page, seeded_server.url)
    cards = page.locator("figure.photo").count()
    assert cards > 1
    assert page.evaluate(LEGENDS_SHOWN) == [False] * cards  # no map shown: no legend

    image = figure.locator("img")
    page.route(f"**/heatmap/{SIGN}", lambda route: None)  # held: the map never answers
    toggle.click()
    assert figure.evaluate(STATUS) == EN["photo.heat_loading"]
    assert page.evaluate(LEGENDS_SHOWN) == [False] * cards  # loading: the photo still shows
    image.evaluate(WATCH_LOADS)
    toggle.click()  # switched off while loading
    page.wait_for_function(ORIGINAL_LOADED, arg=image.element_handle())
    assert page.evaluate(LEGENDS_SHOWN) == [False] * cards

    page.unroute(f"**/heatmap/{SIGN}")
    toggle.click()
    _shown(page, figure)
    assert page.evaluate(LEGENDS_SHOWN) == [True] + [False] * (cards - 1)

    image.evaluate(WATCH_LOADS)
    toggle.click()  # switched off: the photo again, and no legend
    page.wait_for_function(ORIGINAL_LOADED, arg=image.element_handle())
    assert page.evaluate(LEGENDS_SHOWN) == [False] * cards


def test_a_refused_map_leaves_no_legend(seeded_signed_in, seeded_server):
    page = seeded_signed_in("commission")
    figure, toggle = _family(page, seeded_server.url)
    toggle.click()
    _shown(page, figure)
    assert page.evaluate(LEGENDS_SHOWN)[0] is True
    # Another sign's map refused while this one is shown: the photo is put back, legend gone.
    other = figure.locator(f"button.heat-toggle:not([data-heatmap$='/{SIGN}'])").first
    page.route("**/heatmap/**", lambda route: route.abort())
    image = figure.locator("img")
    image.evaluate(WATCH_LOADS)
    other.click()
    page.wait_for_function(ORIGINAL_LOADED, arg=image.element_handle())
    assert figure.evaluate(STATUS) == EN["photo.heat_failed"]
    assert page.evaluate(LEGENDS_SHOWN)[0] is False


def test_without_the_script_no_card_shows_a_legend(browser, seeded_server):
    context = browser.new_context(locale="en-GB", java_script_enabled=False)
    try:
        page = signed_in_page(context, seeded_server, "commission")
        page.goto(f"{seeded_server.url}/ui/families/F-101")
        cards = page.locator("figure.photo").count()
        assert cards > 1 and page.locator("figure.photo .heat-legend").count() == cards
        assert page.evaluate(LEGENDS_SHOWN) == [False] * cards
    finally:
        context.close()
