"""The decision form's error link lands on a control the reader can act on.

A refusal about an override field sent with "accept" chosen (accept_other_level: the form was
sent before the page's script had disabled the override's fields) shows the page again with
"accept" chosen, so the script disables those fields: a link to the level would lead nowhere.
It leads to the "override" choice instead, which enables them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from serving.web.i18n import load_catalogues
from tests.web import live
from tests.web.live_module import live_server, signed_in_page

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EN = load_catalogues()["en"]
FAMILIES = ("F-101", "F-103")  # live.seed's, with an assessment; one with a level is used
ACTIVE = "document.activeElement"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    with live_server(tmp_path_factory.mktemp("decision-error-link"), models=True) as running:
        yield running


@pytest.fixture
def page(browser: Any, server: live.LiveServer) -> Iterator[Any]:
    context = browser.new_context(locale="en-GB")
    yield signed_in_page(context, server, "commission")
    context.close()


def _family_with_a_level(page: Any, server: live.LiveServer) -> str:
    for family_id in FAMILIES:
        page.goto(f"{server.url}/ui/families/{family_id}")
        if not page.is_disabled("#kind-accept"):
            return family_id
    raise AssertionError(f"none of {FAMILIES} has an assessed level to accept")


def _other_level(page: Any) -> str:
    """A level in the form's list other than the assessed one (the accept choice names it)."""
    accept = page.locator("label:has(#kind-accept)").inner_text()
    levels = page.eval_on_selector_all(
        "#decided-level option", "options => options.map(o => [o.value, o.textContent.trim()])"
    )
    return next(value for value, label in levels if value and label not in accept)


def test_a_refusal_about_the_level_with_accept_chosen_leads_to_the_override_choice(page, server):
    family_id = _family_with_a_level(page, server)
    # The form is sent before the script runs (slow or blocked): the level goes with "accept".
    page.route("**/static/app.js", lambda route: route.abort())
    page.goto(f"{server.url}/ui/families/{family_id}")
    assert page.is_checked("#kind-accept") and page.is_enabled("#decided-level")
    level = _other_level(page)
    page.select_option("#decided-level", level)
    page.unroute("**/static/app.js")
    page.focus("#decision-form button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('.override-fields').disabled")
    assert EN["decision_error.accept_other_level"].split("{")[0] in page.inner_text(
        "#decision-error"
    )
    assert page.evaluate(f"{ACTIVE}.id") == "decision-error-summary"
    # The summary's link, from the keyboard: it lands on a control that is not disabled.
    page.keyboard.press("Tab")
    link = page.evaluate(f"[{ACTIVE}.tagName, {ACTIVE}.textContent.trim()]")
    assert link[0] == "A"
    page.keyboard.press("Enter")
    assert page.evaluate(f"{ACTIVE}.id") == "kind-override"
    assert link[1] == EN["decision.go_to_choice"].format(
        choice=EN["decision.override"], field=EN["decision.level"]
    )
    assert page.evaluate(f"!{ACTIVE}.disabled && !{ACTIVE}.closest('fieldset:disabled')")
    described = page.get_attribute("#kind-override", "aria-describedby") or ""
    assert "decision-error" in described.split()  # the reason is read out there
    # Choosing it enables the level, which keeps what was chosen and is the next stop.
    page.keyboard.press("Space")
    assert page.is_checked("#kind-override") and page.is_enabled("#decided-level")
    page.keyboard.press("Tab")
    assert page.evaluate(f"{ACTIVE}.id") == "decided-level"
    assert page.input_value("#decided-level") == level


def test_a_refusal_about_the_level_of_an_override_still_leads_to_the_level(page, server):
    _family_with_a_level(page, server)  # opened
    page.check("#kind-override")
    page.select_option("#decided-level", _other_level(page))
    # No reason code: refused (reason_code_not_chosen), the override still chosen.
    with page.expect_navigation():
        page.click("#decision-form button[type=submit]")
    assert page.is_checked("#kind-override") and page.is_enabled("#reason-code")
    page.focus("#decision-error-summary a")
    page.keyboard.press("Enter")
    assert page.evaluate(f"{ACTIVE}.id") == "reason-code"
