"""The families list says why a family needs review: under the badge of each row whose latest
assessment needs review, the first doubt its family page lists and how many more it lists, in
the reader's language, for every role that reads the list; read in the list's own queries,
and wrapped within its column on a narrow screen."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from serving.db.models import Assessment
from serving.db.session import session_scope
from serving.web.i18n import translator
from serving.web.routes.families import LIST_READERS
from tests.serving.helpers import criteria, family_body
from tests.web.sql_count_helpers import statements_sent

REASON_LINE = re.compile(r'<span class="sub review-why">(.*?)</span>', re.S)
LANGUAGES = ("en", "ru", "kk")


def _file(web: Any, family_id: str, **given: float | str | None) -> None:
    """`family_id` filed with its record's criteria `given` (the others as the helpers file)."""
    body = {**family_body(family_id), "criteria": criteria(**given)}
    filed = web.client.post("/families", json=body, headers=web.headers("inspector"))
    assert filed.status_code == 201, filed.text


def _row(page: str, family_id: str) -> str:
    return page.split(f">{family_id}</a>")[1].split("</tr>")[0]


def _doubts(client: Any, family_id: str, language: str) -> list[str]:
    """The doubts the family page lists, in order, as the reader reads them."""
    page = client.get(f"/ui/families/{family_id}?lang={language}")
    assert page.status_code == 200, page.text
    block = re.search(r'<ul class="doubts">(.*?)</ul>', page.text, re.S)
    assert block, f"{family_id}'s page lists no doubts"
    return [html.unescape(item).strip() for item in re.findall(r"<li>(.*?)</li>", block.group(1))]


def _reason_line(page: str, family_id: str) -> str | None:
    found = REASON_LINE.search(_row(page, family_id))
    return " ".join(html.unescape(found.group(1)).split()) if found else None


def _eligible_without_doubts(web: Any, family_id: str) -> None:
    """The family's stored assessment made one that needs no review (a service without photo
    and fusion models, as here, makes none: too few photos is always a doubt)."""
    with session_scope(web.services.sessions) as session:
        for row in session.query(Assessment).filter(Assessment.family_id == family_id):
            row.asp = "eligible"
            row.result = {**row.result, "asp": "eligible", "review_statements": []}


def test_a_row_that_needs_review_says_why_and_one_that_does_not_says_nothing(web, browser_for):
    _file(web, "F1")  # no photos: too few usable photos, and more
    _file(web, "F2", per_capita_income_kzt=None)  # the income missing first
    _file(web, "F3")  # assessed, then needing no review
    _file(web, "F4")  # never assessed
    for family_id in ("F1", "F2", "F3"):
        web.assess(family_id)
    _eligible_without_doubts(web, "F3")
    for who in LIST_READERS:
        client = browser_for(who)
        for language in LANGUAGES:
            t = translator(language)
            page = client.get(f"/ui/families?lang={language}")
            assert page.status_code == 200, page.text
            firsts = []
            for family_id in ("F1", "F2"):
                doubts = _doubts(client, family_id, language)
                more = t("families.review_more", n=t.number(len(doubts) - 1))
                assert len(doubts) > 1, doubts
                assert _reason_line(page.text, family_id) == f"{doubts[0]} {more}", (who, language)
                firsts.append(doubts[0])
            assert firsts[0] != firsts[1]  # two reasons, each under its own family
            for family_id in ("F3", "F4"):
                assert _reason_line(page.text, family_id) is None, (who, language, family_id)


def test_a_single_doubt_is_shown_without_a_count(web, browser_for):
    _file(web, "F1")
    web.assess("F1")
    with session_scope(web.services.sessions) as session:
        for row in session.query(Assessment).filter(Assessment.family_id == "F1"):
            row.result = {**row.result, "review_statements": row.result["review_statements"][:1]}
    client = browser_for("commission")
    (doubt,) = _doubts(client, "F1", "en")
    assert _reason_line(client.get("/ui/families").text, "F1") == doubt


def test_the_reasons_of_twenty_families_take_no_more_queries_than_of_one(web, browser_for):
    commission = browser_for("commission")
    counts = []
    for first, listed in ((0, 1), (1, 20)):  # one family listed, then twenty
        for family_id in (f"F{n:02d}" for n in range(first, listed)):
            _file(web, family_id)
            web.assess(family_id)
        with statements_sent(web) as seen:
            page = commission.get("/ui/families")
        assert page.status_code == 200, page.text
        assert len(REASON_LINE.findall(page.text)) == listed  # each row says why
        counts.append(len(seen))
    assert counts[0] == counts[1], counts


@pytest.mark.integration
@pytest.mark.slow
def test_the_reason_wraps_within_its_column_at_360_px(seeded_signed_in, seeded_server):
    inspector, commission = seeded_server.api("inspector"), seeded_server.api("commission")
    body = {**family_body("F-150"), "criteria": criteria(per_capita_income_kzt=None)}
    assert inspector.post("/families", json=body).status_code == 201
    assert commission.post("/families/F-150/assessments").status_code == 201
    page = seeded_signed_in("commission")
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{seeded_server.url}/ui/families?lang=ru")
    row = page.locator("tr", has=page.locator("a", has_text="F-150"))
    line = row.locator(".review-why")
    assert line.is_visible()
    # More than one line: it wraps rather than widening its column.
    lines = line.evaluate(
        "e => { const r = document.createRange(); r.selectNodeContents(e);"
        " return new Set([...r.getClientRects()].map(b => Math.round(b.top))).size; }"
    )
    assert lines > 1, lines
    # The page never scrolls sideways, and the whole line is on screen with the list's box
    # unscrolled: read without scrolling in any direction but down.
    assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
    assert line.evaluate("e => e.closest('.table-scroll').scrollLeft") == 0
    right = line.evaluate("e => e.getBoundingClientRect().right")
    assert right <= page.evaluate("() => innerWidth"), right
