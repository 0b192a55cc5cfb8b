"""The upload page in Chromium: every photo of a run ends with a card, failures included, the
run ends with a summary that takes focus, and an answer over the size limit is a card, never
a second page inside the page."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from serving.web.i18n import load_catalogues
from tests.serving.helpers import family_body
from tests.web import live
from tests.web.helpers import blurred_photo, home_photo
from tests.web.live_module import live_server, signed_in_page

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EN = load_catalogues()["en"]
MAX_BODY = 400_000  # small, so an answer of 413 is easy to cause
FAMILY = "F-301"
FINISHED = "() => document.getElementById('upload-progress').textContent.startsWith({start!r})"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    with live_server(tmp_path_factory.mktemp("upload-a11y"), max_body_bytes=MAX_BODY) as running:
        created = running.api("inspector").post("/families", json=family_body(FAMILY))
        assert created.status_code == 201, created.text
        yield running


@pytest.fixture
def upload_page(browser: Any, server: live.LiveServer) -> Iterator[Any]:
    """The inspector's upload page, signed in through the form, the family chosen."""
    context = browser.new_context(locale="en-GB")
    page = signed_in_page(context, server, "inspector")
    assert page.url.endswith("/ui/upload")
    page.select_option("#family-id", FAMILY)
    yield page
    context.close()


def _photo(name: str, data: bytes) -> dict[str, Any]:
    return {"name": name, "mimeType": "image/jpeg", "buffer": data}


def _send(page: Any, files: list[dict[str, Any]]) -> str:
    """Send `files` with the keyboard; the run's summary once it has finished."""
    page.set_input_files("#files", files=files)
    page.focus("#upload-form button[type=submit]")
    page.keyboard.press("Enter")
    start = EN["upload.summary"].split("{")[0]
    page.wait_for_function(FINISHED.format(start=start), timeout=60_000)
    return str(page.locator("#upload-progress").inner_text())


def _cards(page: Any) -> list[dict[str, Any]]:
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('#upload-results article')].map(a => ({
                name: a.querySelector('h3').innerText, fail: a.classList.contains('result-fail'),
                alerts: [...a.querySelectorAll('[role=alert]')].map(x => x.innerText)}))"""
        )
    )


def _summary(total: int, usable: int, retake: int, failed: int) -> str:
    return EN["upload.summary"].format(total=total, usable=usable, retake=retake, failed=failed)


def test_a_photo_that_fails_to_send_keeps_its_card_and_the_summary_takes_focus(upload_page):
    page = upload_page
    posts: list[str] = []

    def drop_the_second(route: Any) -> None:
        posts.append(route.request.method)
        route.abort() if len(posts) == 2 else route.continue_()

    page.route("**/ui/upload", drop_the_second)
    # The status region is rendered before it speaks (an empty one takes no room).
    progress = "getComputedStyle(document.getElementById('upload-progress'))"
    assert page.evaluate(f"{progress}.display") != "none"
    summary = _send(
        page,
        [
            _photo("good.jpg", home_photo(31)),
            _photo("lost.jpg", home_photo(32)),
            _photo("blurred.jpg", blurred_photo(33)),
        ],
    )
    cards = _cards(page)
    assert [c["name"] for c in cards] == ["good.jpg", "lost.jpg", "blurred.jpg"]  # as chosen
    assert cards[1]["fail"] and cards[1]["alerts"] == [EN["upload.failed"]]
    assert summary == f"{_summary(3, 1, 1, 1)} {EN['upload.retry']}"
    assert page.evaluate("document.activeElement.id") == "upload-progress"
    # The photo not sent stays chosen; sending it again keeps the earlier failure listed.
    assert page.evaluate("[...document.getElementById('files').files].map(f => f.name)") == [
        "lost.jpg"
    ]
    page.unroute("**/ui/upload")
    page.focus("#upload-form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_function(FINISHED.format(start=_summary(1, 1, 0, 0)), timeout=60_000)
    names = [(c["name"], c["fail"]) for c in _cards(page)]
    assert names[:4] == [("lost.jpg", False), ("good.jpg", False), ("lost.jpg", True),
                         ("blurred.jpg", True)]  # fmt: skip


def test_a_photo_over_the_size_limit_gets_a_card_and_the_page_keeps_one_main(upload_page):
    page = upload_page
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    summary = _send(
        page,
        [
            # Under the limit itself, over it with the form around it: the server says 413.
            _photo("big.jpg", os.urandom(MAX_BODY - 100)),
            # Over the limit: said at once, never sent.
            _photo("huge.jpg", os.urandom(MAX_BODY + 1)),
        ],
    )
    assert len(posts) == 1
    assert page.locator("main").count() == 1 and page.locator("h1").count() == 1
    cards = _cards(page)
    too_large = [EN["upload_error.body_too_large"].format(mb="0.4")]
    assert [(c["name"], c["alerts"]) for c in cards] == [
        ("big.jpg", too_large),
        ("huge.jpg", too_large),
    ]
    assert summary == _summary(2, 0, 0, 2)
