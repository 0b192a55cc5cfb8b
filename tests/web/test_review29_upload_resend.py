"""The upload page's run summary: a photo its family already had is read from the card's data.

The summary found a repeat by a styling class inside the card (the notice of the answer's
repeat_of), and counted the same bytes sent again in one run (answered as already filed) as one
more usable photo: "Usable: 2" for one photo. The card now says it in a data attribute,
`data-repeat` ("filed": the same bytes, already filed; "copy": a copy of a filed photo), and
a usable photo already had counts among the repeats, not as usable again. One to retake is
still to retake: a photo whose first answer was lost is told its verdict only now.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from benchmarks.quality_curves import scenes
from serving.web.i18n import load_catalogues
from tests.serving.helpers import PASSWORD, family_body
from tests.serving.repeat_photos import COPIES, encoded
from tests.web.helpers import blurred_photo, csrf_from, sign_in
from tests.web.live_module import signed_in_page
from tests.web.upload_repeats_helpers import FINISHED, LOCALES, upload_file

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The live server is tests/web/conftest.py's `repeats_server` (the tiny photo model: its photos
# are usable), one for this module.

CATALOGUES = load_catalogues()
ARTICLE = re.compile(r"<article ([^>]*)>")
ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')
CARDS = """() => [...document.querySelectorAll('#upload-results article')].map(a => [
    a.querySelector('h3').innerText, a.dataset.outcome, a.dataset.repeat || null])"""


def _family(repeats_server: Any, family_id: str, seed: int) -> bytes:
    """Make the family; its room's photo (a room of its own: another family's is reuse)."""
    created = repeats_server.api("inspector").post("/families", json=family_body(family_id))
    assert created.status_code == 201, created.text
    return encoded(scenes(1, seed=seed, width=1024)[0])


def _cards_attributes(text: str) -> list[dict[str, str]]:
    return [dict(ATTRIBUTE.findall(tag)) for tag in ARTICLE.findall(text)]


def test_the_card_says_in_its_data_whether_the_family_already_had_the_photo(repeats_server):
    room = _family(repeats_server, "F-501", seed=31)
    with httpx.Client(base_url=repeats_server.url, timeout=60) as client:
        assert sign_in(client, "inspector", PASSWORD).status_code == 303
        token = csrf_from(client.get("/ui/upload").text)

        def send(photo: bytes) -> dict[str, str]:
            answer = client.post(
                "/ui/upload",
                data={"csrf_token": token, "family_id": "F-501"},
                files=[("files", ("kitchen.jpg", photo, "image/jpeg"))],
                headers={"X-Requested-With": "fetch"},  # as the page's script sends it
            )
            assert answer.status_code == 200, answer.text
            [card] = _cards_attributes(answer.text)
            return card

        first, again, copy = send(room), send(room), send(COPIES["re-encoded"](room))
    assert first["data-outcome"] == again["data-outcome"] == copy["data-outcome"] == "usable"
    assert "data-repeat" not in first
    assert again["data-repeat"] == "filed"  # the same bytes: already filed
    assert copy["data-repeat"] == "copy"  # other bytes of a filed photo (repeat_of)


def _run(page: Any, language: str, files: list[dict[str, Any]]) -> tuple[list[Any], str]:
    """Send `files` in one run of the page; its cards and its summary."""
    page.set_input_files("#files", files=files)
    page.focus("#upload-form button[type=submit]")
    page.keyboard.press("Enter")
    start = CATALOGUES[language]["upload.summary"].split("{")[0]
    page.wait_for_function(FINISHED.format(start=start), timeout=120_000)
    return page.evaluate(CARDS), page.locator("#upload-progress").inner_text()


@pytest.mark.parametrize("language", sorted(LOCALES))
def test_the_same_photo_sent_twice_in_one_run_is_one_usable_photo(
    browser, repeats_server, language
):
    family_id = {"en": "F-511", "kk": "F-512", "ru": "F-513"}[language]
    room = _family(repeats_server, family_id, seed={"en": 41, "kk": 42, "ru": 43}[language])
    context = browser.new_context(locale=LOCALES[language])
    try:
        page = signed_in_page(context, repeats_server, "inspector")
        page.select_option("#family-id", family_id)
        cards, told = _run(
            page, language, [upload_file("kitchen.jpg", room), upload_file("kitchen.jpg", room)]
        )
    finally:
        context.close()
    assert cards == [["kitchen.jpg", "usable", None], ["kitchen.jpg", "usable", "filed"]]
    texts = CATALOGUES[language]
    summary = texts["upload.summary"].format(total=2, usable=1, retake=0, failed=0)
    repeats = texts["upload.summary_repeats"].format(repeats=1)
    assert told == f"{summary} {repeats}"


def test_a_resend_after_a_lost_answer_is_told_filed_and_a_retake_to_retake(browser, repeats_server):
    """Both photos were filed, their answers lost (filed here through the API, unseen by the
    page); sent again, the usable one counts among the repeats, the failed one is to retake."""
    room = _family(repeats_server, "F-521", seed=51)
    blurred = blurred_photo(52)
    api = repeats_server.api("inspector")
    for photo in (room, blurred):
        filed = api.post("/families/F-521/photos", files={"file": ("p.jpg", photo)})
        assert filed.status_code == 201, filed.text
    context = browser.new_context(locale="en-GB")
    try:
        page = signed_in_page(context, repeats_server, "inspector")
        page.select_option("#family-id", "F-521")
        cards, told = _run(
            page, "en", [upload_file("kitchen.jpg", room), upload_file("blurred.jpg", blurred)]
        )
    finally:
        context.close()
    assert cards == [["kitchen.jpg", "usable", "filed"], ["blurred.jpg", "retake", "filed"]]
    texts = CATALOGUES["en"]
    summary = texts["upload.summary"].format(total=2, usable=0, retake=1, failed=0)
    repeats = texts["upload.summary_repeats"].format(repeats=1)
    assert told == f"{summary} {repeats}"
