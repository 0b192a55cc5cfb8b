"""The upload page in Chromium: a photo that repeats one its family already filed is counted
apart in the run's summary, not as one more usable photo.

An upload's answer names the filed photo a copy repeats (re-encoded, resized, a screenshot),
and the card says it counts once; the summary still counted it as usable, so an inspector who
sent one photo three times was told three usable photos and did not photograph the rooms the
family still needs. Repeats now have a count of their own in the summary (en/ru/kk).
"""

from __future__ import annotations

import pytest

from benchmarks.quality_curves import scenes
from serving.web.i18n import load_catalogues
from tests.serving.repeat_photos import COPIES, encoded
from tests.web.live_module import signed_in_page
from tests.web.upload_repeats_helpers import FAMILIES, FINISHED, LOCALES, upload_file

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The live server is tests/web/conftest.py's `repeats_server` (the tiny photo model, its room
# head saying kitchen: its photos are usable), one for this module.

CATALOGUES = load_catalogues()
# A room of each family's own: one family's photo sent for another would be reuse, to retake.
SCENES = {"en": 21, "ru": 22, "kk": 23, "none repeated": 24}


@pytest.mark.parametrize("language", sorted(LOCALES))
def test_repeats_are_counted_apart_from_usable_photos(browser, repeats_server, language):
    texts = CATALOGUES[language]
    context = browser.new_context(locale=LOCALES[language])
    try:
        page = signed_in_page(context, repeats_server, "inspector")
        page.select_option("#family-id", FAMILIES[language])
        room = encoded(scenes(1, seed=SCENES[language], width=1024)[0])
        page.set_input_files(
            "#files",
            files=[
                upload_file("kitchen.jpg", room),
                upload_file("kitchen-again.jpg", COPIES["re-encoded"](room)),
                upload_file("not-a-photo.jpg", b"these bytes are no photo"),
                upload_file("kitchen-screenshot.png", COPIES["screenshot"](room), "image/png"),
            ],
        )
        page.focus("#upload-form button[type=submit]")
        page.keyboard.press("Enter")
        start = texts["upload.summary"].split("{")[0]
        page.wait_for_function(FINISHED.format(start=start), timeout=120_000)
        cards = page.evaluate(
            """() => [...document.querySelectorAll('#upload-results article')].map(a => [
                a.querySelector('h3').innerText, a.dataset.outcome,
                a.querySelector('.repeat') !== null])"""
        )
        assert cards == [
            ["kitchen.jpg", "usable", False],
            ["kitchen-again.jpg", "usable", True],  # filed, and its card says it counts once
            ["not-a-photo.jpg", "refused", False],
            ["kitchen-screenshot.png", "usable", True],
        ]
        summary = texts["upload.summary"].format(total=4, usable=1, retake=0, failed=1)
        repeats = texts["upload.summary_repeats"].format(repeats=2)
        assert page.locator("#upload-progress").inner_text() == f"{summary} {repeats}"
    finally:
        context.close()


def test_a_run_without_repeats_keeps_the_summary_as_it_was(browser, repeats_server):
    context = browser.new_context(locale="en-GB")
    try:
        page = signed_in_page(context, repeats_server, "inspector")
        page.select_option("#family-id", FAMILIES["none repeated"])
        other = encoded(scenes(1, seed=SCENES["none repeated"], width=1024)[0])
        page.set_input_files("#files", files=[upload_file("bedroom.jpg", other)])
        page.focus("#upload-form button[type=submit]")
        page.keyboard.press("Enter")
        texts = CATALOGUES["en"]
        start = texts["upload.summary"].split("{")[0]
        page.wait_for_function(FINISHED.format(start=start), timeout=120_000)
        told = page.locator("#upload-progress").inner_text()
        assert told == texts["upload.summary"].format(total=1, usable=1, retake=0, failed=0)
    finally:
        context.close()
