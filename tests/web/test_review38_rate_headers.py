"""The overrides tables of the oversight page (by level and by region) on a phone (360 px), in
English, Russian and Kazakh: every column header reads in two lines at most (the table scrolls
in its box), and nothing runs past the window.

Before, in Kazakh the group's header ("Әл-ауқат деңгейі", broken at its hyphen too) and the
override rate's ("Қайта қарау үлесі") stood a word a line: three lines each."""

from __future__ import annotations

from typing import Any

import pytest

from serving.web.i18n import translator
from tests.web.live_module import measured

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PHONE = {"width": 360, "height": 740}
CAPTIONS = ("cap-by-level", "cap-by-region")
# Each column header of the tables captioned `ids`: its table, its text, and how many lines it
# takes (the distinct tops of its text's line boxes).
HEADERS = """(ids) => ids.flatMap(id => {
  const table = document.getElementById(id).closest('table');
  return [...table.querySelectorAll('thead th')].map(th => {
    const range = document.createRange();
    range.selectNodeContents(th);
    const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
    return {table: id, text: th.textContent.trim(), lines: tops.size};
  });
})"""
PAGE_WIDTH = """() => ({scroll: document.scrollingElement.scrollWidth,
  client: document.scrollingElement.clientWidth})"""


def _measure(browser: Any, server: Any, language: str) -> Any:
    return measured(browser, server, "/ui/oversight", language=language, viewport=PHONE,
                    scripts=[(HEADERS, list(CAPTIONS)), PAGE_WIDTH])  # fmt: skip


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_the_override_tables_headers_take_two_lines_at_most_on_a_phone(
    browser, seeded_server, language
):
    headers, width = _measure(browser, seeded_server, language)
    t = translator(language)
    for caption in CAPTIONS:  # both tables, each with its five headers
        texts = [h["text"] for h in headers if h["table"] == caption]
        assert len(texts) == 5 and t("oversight.override_rate") in texts, (caption, texts)
    assert {t("families.level"), t("oversight.region")} <= {h["text"] for h in headers}
    assert [h for h in headers if h["lines"] > 2] == [], headers
    assert width["scroll"] <= width["client"], width  # the tables scroll in their boxes
