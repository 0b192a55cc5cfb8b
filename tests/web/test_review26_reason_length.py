"""A decision's reason with line breaks, in Chromium: the form's limit and the service's agree.

The reason's textarea counts a line break as one character toward its maxlength, and Chromium
sends it as CRLF, two: the service counts a reason with its line breaks as LF, as the member
typed it, and stores it so. A reason really over the limit comes back as the form, the
member's words kept, with a message saying so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from serving.core.reason_chars import ReasonChars
from serving.web.i18n import load_catalogues
from tests.web import live
from tests.web.live_module import live_server, signed_in_page

# The shipped limit the test services run with (configs/serving.yaml reason_chars).
REASON_MAX_CHARS = ReasonChars().decision_max

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CATALOGUES = load_catalogues()
FAMILIES = ("F-101", "F-102", "F-103")  # live.seed's families in the commission's region


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    with live_server(tmp_path_factory.mktemp("reason-length"), models=True) as running:
        yield running


@pytest.fixture
def page(browser: Any, server: live.LiveServer) -> Iterator[Any]:
    context = browser.new_context(locale="en-GB")
    yield signed_in_page(context, server, "commission")
    context.close()


def _reason(chars: int) -> str:
    """A reason of `chars` characters (line breaks counted as one) in lines of 50."""
    line = "Roof leaks in the bedroom, confirmed on the visit."[:49]
    text = "\n".join([line] * (chars // 50 - 1))
    return text + "\n" + "x" * (chars - len(text) - 1)  # the last line: 50 or more


def _fill_override(page: Any, server: live.LiveServer, family_id: str, reason: str) -> None:
    """The family's page with an override chosen: another level, a reason code, `reason`."""
    page.goto(f"{server.url}/ui/families/{family_id}")
    page.check("#kind-override")
    accept = page.locator("label:has(#kind-accept)").inner_text()
    levels = page.eval_on_selector_all(
        "#decided-level option", "options => options.map(o => [o.value, o.textContent.trim()])"
    )
    level = next(value for value, label in levels if value and label not in accept)
    page.select_option("#decided-level", level)
    page.select_option("#reason-code", index=1)
    page.fill("#reason", reason)


def _decisions(server: live.LiveServer, family_id: str) -> list[dict[str, Any]]:
    answer = server.api("commission").get(f"/families/{family_id}/decisions")
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def test_a_reason_at_the_limit_with_line_breaks_is_recorded_with_them(page, server):
    reason = _reason(REASON_MAX_CHARS)
    assert len(reason) == REASON_MAX_CHARS and reason.count("\n") > 30
    _fill_override(page, server, "F-101", reason)
    # The textarea took it all: it counts each line break once.
    assert page.input_value("#reason") == reason
    with page.expect_navigation():
        page.click("#decision-form button[type=submit]")
    assert "decided=" in page.url, page.inner_text("main")
    assert page.locator("#decision-error").count() == 0
    recorded = _decisions(server, "F-101")[0]
    assert recorded["reason"] == reason  # stored with LF line breaks, every word of it


def test_a_reason_over_the_limit_comes_back_in_the_form_with_a_message(page, server):
    before = len(_decisions(server, "F-102"))
    reason = _reason(REASON_MAX_CHARS + 1)
    _fill_override(page, server, "F-102", "")
    # A browser that does not hold to maxlength (or a page whose limit was removed).
    page.eval_on_selector("#reason", "area => area.removeAttribute('maxlength')")
    page.fill("#reason", reason)
    assert page.input_value("#reason") == reason
    with page.expect_navigation() as sent:
        page.click("#decision-form button[type=submit]")
    assert sent.value.status == 422
    message = CATALOGUES["en"]["decision_error.reason_too_long"].format(n=f"{REASON_MAX_CHARS:,}")
    assert message in page.inner_text("#decision-error")
    assert page.input_value("#reason") == reason  # the member's words, kept
    assert page.is_checked("#kind-override")
    assert page.get_attribute("#reason", "aria-invalid") == "true"
    assert len(_decisions(server, "F-102")) == before  # nothing recorded


@pytest.mark.parametrize("language", ["ru", "kk"])
def test_the_message_of_a_reason_over_the_limit_is_in_every_language(language):
    text = CATALOGUES[language]["decision_error.reason_too_long"]
    assert text != CATALOGUES["en"]["decision_error.reason_too_long"]
    assert str(REASON_MAX_CHARS) in text.format(n=REASON_MAX_CHARS)
