"""Pages as a reader meets them: the families list's probability in the family page's words,
the fairness groups as labels, badges on one line, captions that wrap within a narrow screen,
the photo formats the running service reads, and no heat-map button without the script."""

from __future__ import annotations

import re
from typing import Any

import pytest

from serving.web.i18n import translator
from shanyraq.errors import UnsupportedImageFormatError
from tests.serving.upload_helpers import gif_bytes
from tests.web.helpers import ERROR_CARD, csrf_from
from tests.web.live_module import signed_in_page

PHONE = {"width": 360, "height": 740}
DESK = {"width": 1280, "height": 900}
LOCALES = {"en": "en-GB", "ru": "ru-RU", "kk": "kk-KZ"}
# How each language joins the last of a list ("JPEG, PNG or HEIC").
OR = {"en": " or ", "ru": " или ", "kk": " немесе "}


def _page(browser: Any, server: Any, who: str, *, viewport=DESK, language="en", script=True):
    """A page signed in as `who`; its context is closed by the caller (`page.context.close()`)."""
    context = browser.new_context(
        viewport=viewport, locale=LOCALES[language], java_script_enabled=script
    )
    return signed_in_page(context, server, who)


def _open(page: Any, server: Any, path: str, language: str) -> None:
    page.goto(f"{server.url}{path}?lang={language}")


# --- the families list ----------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
@pytest.mark.integration
@pytest.mark.slow
def test_the_list_gives_the_probability_in_the_family_pages_words(browser, seeded_server, language):
    # Before: the list read "P(eligible) 42%", a statistician's shorthand; the family page
    # says "Probability of eligibility: 42%".
    words = translator(language)("family.p_eligible", p="").strip().rstrip(":")
    page = _page(browser, seeded_server, "commission", language=language)
    try:
        _open(page, seeded_server, "/ui/families", language)
        shown = page.locator("table.list tbody td .sub").all_inner_texts()
        with_probability = [s for s in shown if "%" in s]
        assert with_probability, shown
        assert all(s.startswith(words) for s in with_probability), with_probability
        assert "P(" not in page.locator("table.list").inner_text()
    finally:
        page.context.close()


# --- the oversight page ---------------------------------------------------------------------

FAIRNESS_ROWS = """() => Object.fromEntries([...document.querySelectorAll(
  '#h-fairness ~ .pair table')].map(table => [table.querySelector('caption').id,
  [...table.querySelectorAll('tbody th[scope=row]')].map(th => th.innerText.trim())]))"""


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
@pytest.mark.integration
@pytest.mark.slow
def test_the_fairness_groups_read_as_capitalised_labels(browser, seeded_server, language):
    # Before: the rows read "urban", "rural", "woman head of family": the label as a
    # sentence uses it, in lower case.
    t = translator(language)
    page = _page(browser, seeded_server, "admin_national", language=language)
    try:
        _open(page, seeded_server, "/ui/oversight", language)
        rows = page.evaluate(FAIRNESS_ROWS)
    finally:
        page.context.close()
    for grouping, values in (
        ("settlement", ("urban", "rural")),
        ("head_gender", ("female", "male")),
    ):
        labels = {_capitalised(t.label(grouping, value)) for value in values}
        assert rows[f"cap-fairness-{grouping}"], rows
        assert set(rows[f"cap-fairness-{grouping}"]) <= labels, (grouping, rows)
    every = [name for names in rows.values() for name in names]
    assert [n for n in every if n[:1] != n[:1].upper()] == [], every


def _capitalised(label: str) -> str:
    return label[:1].upper() + label[1:]


# Each badge's text on more lines than one: its words, and the lines' tops.
WRAPPED_BADGES = """() => [...document.querySelectorAll('main .badge')].filter(badge => {
  const range = document.createRange();
  range.selectNodeContents(badge);
  return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1;
}).map(badge => badge.textContent.trim())"""

PAGE_WIDTH = """() => ({scroll: document.scrollingElement.scrollWidth,
  client: document.scrollingElement.clientWidth})"""


@pytest.mark.parametrize("viewport", [DESK, PHONE], ids=["desk", "phone"])
@pytest.mark.parametrize("language", ["en", "ru", "kk"])
@pytest.mark.integration
@pytest.mark.slow
def test_a_badge_stays_on_one_line(browser, seeded_server, viewport, language):
    # Before: the families column of a fairness table is narrow at 1280 px, and its "too few"
    # pill broke in two inside its border.
    page = _page(browser, seeded_server, "admin_national", viewport=viewport, language=language)
    try:
        _open(page, seeded_server, "/ui/oversight", language)
        too_few = translator(language)("oversight.too_small")
        assert page.locator("main .badge", has_text=too_few).count() > 0
        assert page.evaluate(WRAPPED_BADGES) == []
        width = page.evaluate(PAGE_WIDTH)
        assert width["scroll"] <= width["client"], width  # a wide table scrolls in its box
    finally:
        page.context.close()


# Each caption shown inside a scroll box, with its text's line boxes and the box's visible
# edges: a caption laid out as wide as its table is cut where the box ends.
CAPTIONS = """() => [...document.querySelectorAll('main .table-scroll caption')]
  .filter(c => !c.classList.contains('visually-hidden')).map(caption => {
  const range = document.createRange();
  range.selectNodeContents(caption);
  const box = caption.closest('.table-scroll').getBoundingClientRect();
  return {text: caption.textContent.trim(), left: box.left, right: box.right,
          lines: [...range.getClientRects()].map(r => [r.left, r.right])};
})"""


@pytest.mark.parametrize(
    ("who", "path"),
    [("commission", "/ui/families"), ("admin_national", "/ui/oversight")],
)
@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.integration
@pytest.mark.slow
def test_a_caption_wraps_within_its_box_on_a_phone(browser, seeded_server, who, path, language):
    # Before: a caption was as wide as its table, so at 360 px its end lay beyond the scroll
    # box's edge, out of sight until the table was scrolled.
    page = _page(browser, seeded_server, who, viewport=PHONE, language=language)
    try:
        _open(page, seeded_server, path, language)
        captions = page.evaluate(CAPTIONS)
        width = page.evaluate(PAGE_WIDTH)
    finally:
        page.context.close()
    assert captions, "no caption shown in a scroll box"
    cut = [
        c["text"]
        for c in captions
        if any(left < c["left"] - 1 or right > c["right"] + 1 for left, right in c["lines"])
    ]
    assert cut == [], (cut, captions)
    assert all(c["right"] <= width["client"] for c in captions), captions


# --- the upload page ------------------------------------------------------------------------


@pytest.mark.parametrize("avif", [True, False], ids=["avif", "no-avif"])
@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_the_upload_page_names_the_formats_this_service_reads(
    web, browser_for, monkeypatch, language, avif
):
    # Before: the page named "JPEG, PNG, WebP or HEIC" from a fixed text, also where the
    # service's Pillow reads AVIF (vision.io.avif_supported).
    import vision.io

    monkeypatch.setattr(vision.io, "avif_supported", lambda: avif)
    web.create_family("F1")
    inspector = browser_for("inspector")
    inspector.cookies.set("shanyraq_lang", language, path="/ui")
    page = inspector.get("/ui/upload").text
    names = ["JPEG", "PNG", "WebP", "HEIC"] + (["AVIF"] if avif else [])
    named = ", ".join(names[:-1]) + OR[language] + names[-1]
    help_text = re.search(r'<p class="sub" id="files-help">(.*?)</p>', page, re.S)
    assert help_text and named in help_text.group(1), page
    # A refused file's card names the same formats as the page.
    refused = inspector.post(
        "/ui/upload",
        data={"csrf_token": csrf_from(page), "family_id": "F1"},
        files=[("files", ("a.gif", gif_bytes(), "image/gif"))],
    ).text
    lists = re.findall(r"JPEG[^.()]*", refused)
    assert lists and all(found.startswith(named) for found in lists), lists
    cards = [c.strip() for c in ERROR_CARD.findall(refused)]
    assert [card for card in cards if named in card] == cards != [], cards
    # The decoder's own refusal names the same formats.
    english = re.escape(", ".join(names[:-1]) + OR["en"] + names[-1])
    with pytest.raises(UnsupportedImageFormatError, match=f"send a {english} photo"):
        vision.io.sniff_format(gif_bytes())


# --- the family page's heat-map buttons -----------------------------------------------------

VISIBLE = """selector => [...document.querySelectorAll(selector)]
  .filter(element => element.getClientRects().length > 0).length"""
BUTTONS, BARS = "button.heat-toggle", "table.signs svg.bar"


@pytest.mark.integration
@pytest.mark.slow
def test_heat_map_buttons_show_only_where_the_script_runs(browser, seeded_server):
    # Before: without the script every sign had a "Heat map" button that did nothing, and on
    # a phone the sign's bar gave way to it.
    page = _page(browser, seeded_server, "commission", viewport=PHONE, script=False)
    try:
        _open(page, seeded_server, "/ui/families/F-101", "en")
        assert page.locator(BUTTONS).count() > 0  # rendered, for the script
        assert page.evaluate(VISIBLE, BUTTONS) == 0
        assert page.evaluate(VISIBLE, BARS) == page.locator(BARS).count() > 0
    finally:
        page.context.close()
    page = _page(browser, seeded_server, "commission")
    try:
        _open(page, seeded_server, "/ui/families/F-101", "en")
        assert page.evaluate(VISIBLE, BUTTONS) == page.locator(BUTTONS).count() > 0
        button = page.locator("button.heat-toggle").first
        button.click()
        assert button.get_attribute("aria-pressed") == "true"
        image = page.locator(f"#{button.get_attribute('aria-controls')}")
        assert "/heatmap/" in (image.get_attribute("src") or "")
    finally:
        page.context.close()
