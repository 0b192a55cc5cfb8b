"""The upload page in Chromium, in Russian: a photo over the size limit is never sent, and its
card names the limit in the reader's numbers and what to do instead (review 27)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from serving.web.i18n import load_catalogues
from tests.serving.helpers import family_body
from tests.web import live
from tests.web.live_module import live_server, signed_in_page

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RU = load_catalogues()["ru"]
MAX_BODY = 400_000  # the request's limit
MAX_PHOTO = 200_000  # io.max_bytes: one photo's, under the request's
FAMILY = "F-301"
FINISHED = "() => document.getElementById('upload-progress').textContent.startsWith({start!r})"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    from shanyraq.config import get_settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHANYRAQ_IO__MAX_BYTES", str(MAX_PHOTO))
        get_settings.cache_clear()
        try:
            root = tmp_path_factory.mktemp("upload-limit")
            with live_server(root, max_body_bytes=MAX_BODY) as running:
                created = running.api("inspector").post("/families", json=family_body(FAMILY))
                assert created.status_code == 201, created.text
                yield running
        finally:
            patch.delenv("SHANYRAQ_IO__MAX_BYTES")
            get_settings.cache_clear()


@pytest.fixture
def upload_page(browser: Any, server: live.LiveServer) -> Iterator[Any]:
    context = browser.new_context(locale="ru-RU")
    page = signed_in_page(context, server, "inspector")
    assert page.url.endswith("/ui/upload")
    page.select_option("#family-id", FAMILY)
    yield page
    context.close()


def test_photos_over_the_limit_are_not_sent_and_their_cards_say_the_limit(upload_page):
    page = upload_page
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    files = [
        # Under the request's limit, over a photo's: the server would refuse it (413).
        {"name": "big.jpg", "mimeType": "image/jpeg", "buffer": os.urandom(MAX_PHOTO + 1)},
        {"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": os.urandom(MAX_BODY + 1)},
    ]
    page.set_input_files("#files", files=files)
    page.focus("#upload-form button[type=submit]")
    page.keyboard.press("Enter")
    start = RU["upload.summary"].split("{")[0]
    page.wait_for_function(FINISHED.format(start=start), timeout=60_000)
    assert posts == []  # said at once, nothing sent over the inspector's connection
    alerts = page.evaluate(
        """() => [...document.querySelectorAll('#upload-results article')].map(a => [
            a.querySelector('h3').innerText,
            [...a.querySelectorAll('[role=alert]')].map(x => x.innerText)])"""
    )
    told = RU["upload_error.body_too_large"].format(mb="0,2")
    assert alerts == [["big.jpg", [told]], ["huge.jpg", [told]]]
