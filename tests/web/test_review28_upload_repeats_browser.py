"""The upload page in Chromium: a photo that repeats one its family already filed is counted
apart in the run's summary, not as one more usable photo.

An upload's answer names the filed photo a copy repeats (re-encoded, resized, a screenshot),
and the card says it counts once; the summary still counted it as usable, so an inspector who
sent one photo three times was told three usable photos and did not photograph the rooms the
family still needs. Repeats now have a count of their own in the summary (en/ru/kk).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from benchmarks.quality_curves import scenes
from serving.web.i18n import load_catalogues
from tests.serving.helpers import ROOT, family_body
from tests.serving.repeat_photos import COPIES, encoded
from tests.web import live
from tests.web.live_module import live_server, signed_in_page

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CATALOGUES = load_catalogues()
LOCALES = {"en": "en-GB", "ru": "ru-RU", "kk": "kk-KZ"}
FAMILIES = {"en": "F-401", "ru": "F-402", "kk": "F-403", "none repeated": "F-404"}
# A room of each family's own: one family's photo sent for another would be reuse, to retake.
SCENES = {"en": 21, "ru": 22, "kk": 23, "none repeated": 24}
FINISHED = "() => document.getElementById('upload-progress').textContent.startsWith({start!r})"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    """A live server with the tiny photo model, its room head saying kitchen whatever the
    pixels, and the condition-confidence abstain off (the tiny model's condition head is
    flat): the photos it scores are usable, so a copy of one is a repeat."""
    from shanyraq.taxonomy import get_taxonomy
    from tests.vision.engine_fixtures import make_artifact
    from vision.engine import get_engine_config

    root = tmp_path_factory.mktemp("upload-repeats")
    configs = root / "configs"
    shutil.copytree(ROOT / "configs", configs)
    engine = yaml.safe_load((configs / "engine.yaml").read_text(encoding="utf-8"))
    engine["abstain"]["min_condition_probability"] = 0.0
    (configs / "engine.yaml").write_text(yaml.safe_dump(engine, sort_keys=False), "utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHANYRAQ_CONFIGS_DIR", str(configs))
        get_engine_config.cache_clear()
        try:
            model = make_artifact(
                root / "photo", get_taxonomy(), seed=5, room_bias={"kitchen": 8.0}
            )
            with live_server(root, model_dir=model) as running:
                for family_id in FAMILIES.values():
                    created = running.api("inspector").post(
                        "/families", json=family_body(family_id)
                    )
                    assert created.status_code == 201, created.text
                yield running
        finally:
            patch.undo()
            get_engine_config.cache_clear()


def _photo(name: str, data: bytes, kind: str = "image/jpeg") -> dict[str, Any]:
    return {"name": name, "mimeType": kind, "buffer": data}


@pytest.mark.parametrize("language", sorted(LOCALES))
def test_repeats_are_counted_apart_from_usable_photos(browser, server, language):
    texts = CATALOGUES[language]
    context = browser.new_context(locale=LOCALES[language])
    try:
        page = signed_in_page(context, server, "inspector")
        page.select_option("#family-id", FAMILIES[language])
        room = encoded(scenes(1, seed=SCENES[language], width=1024)[0])
        page.set_input_files(
            "#files",
            files=[
                _photo("kitchen.jpg", room),
                _photo("kitchen-again.jpg", COPIES["re-encoded"](room)),
                _photo("not-a-photo.jpg", b"these bytes are no photo"),
                _photo("kitchen-screenshot.png", COPIES["screenshot"](room), "image/png"),
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


def test_a_run_without_repeats_keeps_the_summary_as_it_was(browser, server):
    context = browser.new_context(locale="en-GB")
    try:
        page = signed_in_page(context, server, "inspector")
        page.select_option("#family-id", FAMILIES["none repeated"])
        other = encoded(scenes(1, seed=SCENES["none repeated"], width=1024)[0])
        page.set_input_files("#files", files=[_photo("bedroom.jpg", other)])
        page.focus("#upload-form button[type=submit]")
        page.keyboard.press("Enter")
        texts = CATALOGUES["en"]
        start = texts["upload.summary"].split("{")[0]
        page.wait_for_function(FINISHED.format(start=start), timeout=120_000)
        told = page.locator("#upload-progress").inner_text()
        assert told == texts["upload.summary"].format(total=1, usable=1, retake=0, failed=0)
    finally:
        context.close()
