"""The pages as their readers meet them: no request of a page's that fails, an audit log whose
short values stay whole, a filter row whose controls line up, the oversight page's headings and
empty tables, figures that name their unit, and the sign-in and password forms as browsers and
password managers read them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from serving.web.i18n import LANGUAGES, translator
from tests.serving.helpers import PASSWORD, ROOT
from tests.web import live
from tests.web.helpers import csrf_from, sign_in
from tests.web.live_module import live_server
from tests.web.live_module import sign_in as sign_in_page

PHONE = {"width": 360, "height": 740}
DESK = {"width": 1280, "height": 900}
# Each figure of a statement that is a sum of money or an area, by the unit its value is in:
# the words every language names that unit with.
UNIT_WORDS = {
    "money": {"en": "KZT", "ru": "тенге", "kk": "теңге"},
    "area": {"en": "m²", "ru": "м²", "kk": "м²"},
}


# --- a real browser on a live server with the tiny models and the seeded families ----------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    with live_server(tmp_path_factory.mktemp("demo-walk"), models=True) as running:
        yield running


@pytest.fixture
def open_page(browser: Any, server: live.LiveServer) -> Iterator[Any]:
    """Factory: a page signed in as `who` (None: signed out) at `viewport`, that records every
    request of its own that failed or was answered with an error, and every console error."""
    contexts: list[Any] = []

    def factory(who: str | None, viewport: dict[str, int] = DESK, locale: str = "en-GB") -> Any:
        context = browser.new_context(viewport=viewport, locale=locale)
        contexts.append(context)
        page = context.new_page()
        page.failed = []  # type: ignore[attr-defined]
        page.on(
            "response",
            lambda r: page.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        page.on("requestfailed", lambda r: page.failed.append(f"failed {r.url}"))
        page.on("console", lambda m: page.failed.append(m.text) if m.type == "error" else None)
        return page if who is None else sign_in_page(page, server, who)

    yield factory
    for context in contexts:
        context.close()


@pytest.mark.parametrize(
    ("who", "path"),
    [(None, "/ui/login"), ("commission", "/ui/families"), ("admin_national", "/ui/audit")],
)
@pytest.mark.integration
@pytest.mark.slow
def test_a_page_asks_the_browser_for_nothing_that_is_not_there(open_page, server, who, path):
    # Before: every page left the browser to ask for /favicon.ico, which the service does not
    # have: a 404 and a console error on every page a reader opened.
    page = open_page(who)
    page.goto(f"{server.url}{path}")
    page.wait_for_load_state("networkidle")
    assert page.failed == []
    icon = page.evaluate("() => document.querySelector('link[rel=icon]').href")
    assert page.request.get(icon).status == 200  # the tab shows the service's own icon


# The audit table's cells whose values are short and whole (the entry's number, who, the
# action's code, its target): each must stay on one line, never broken inside a number or a
# name.
SPLIT_CELLS = """() => [...document.querySelectorAll('table.audit tbody tr')].flatMap(row => {
  const cells = [row.cells[0], row.cells[2], row.cells[3].querySelector('code'), row.cells[4]];
  return cells.filter(cell => {
    const range = document.createRange();
    range.selectNodeContents(cell);
    return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1;
  }).map(cell => cell.textContent.trim());
})"""


@pytest.mark.parametrize("viewport", [DESK, PHONE], ids=["desk", "phone"])
@pytest.mark.integration
@pytest.mark.slow
def test_the_audit_log_keeps_numbers_names_and_codes_whole(open_page, server, viewport):
    # Before: every cell of the log could break anywhere, so the table shrank its columns to a
    # character: "4/3" for entry 43, "ad/min", "photo_upl/oaded" on two lines, on a phone and
    # beside a wide entry on a desk alike. Only the details (hashes) may break anywhere.
    page = open_page("admin_national", viewport)
    page.goto(f"{server.url}/ui/audit")
    assert page.locator("table.audit tbody tr").count() >= 10  # two-digit entry numbers
    assert page.evaluate(SPLIT_CELLS) == []
    wide = page.evaluate(
        "() => ({page: document.scrollingElement.scrollWidth,"
        " window: document.scrollingElement.clientWidth})"
    )
    assert wide["page"] <= wide["window"], wide  # the table scrolls in its box, not the page


@pytest.mark.integration
@pytest.mark.slow
def test_the_audit_filters_controls_line_up(open_page, server):
    # Before: the code field's help stood under the field, so the action list beside it sat
    # a help text's height lower than the field, at the bottom of the row.
    page = open_page("admin_national")
    page.goto(f"{server.url}/ui/audit")
    bottoms = page.evaluate(
        "() => ['#action', '#action-code'].map("
        "s => document.querySelector(s).getBoundingClientRect().bottom)"
    )
    assert abs(bottoms[0] - bottoms[1]) <= 1, bottoms
    described = page.get_attribute("#action-code", "aria-describedby")
    assert described and page.locator(f"#{described}").inner_text().strip()


@pytest.mark.parametrize("locale", ["en-GB", "ru-RU"])
@pytest.mark.integration
@pytest.mark.slow
def test_the_fairness_headings_start_with_a_capital(open_page, server, locale):
    # Before: each group's heading was its label as a sentence uses it, "region", "settlement".
    page = open_page("admin_national", locale=locale)
    page.goto(f"{server.url}/ui/oversight")
    headings = page.locator("#h-fairness ~ h3").all_inner_texts()
    assert len(headings) >= 2
    assert [h for h in headings if h[:1] != h[:1].upper()] == [], headings


# --- pages through the app (TestClient) -----------------------------------------------------


def _fairness_bodies(page: str) -> list[str]:
    block = page.split('id="h-fairness"')[1].split('id="h-drift"')[0]
    return re.findall(r"<tbody>(.*?)</tbody>", block, re.S)


def test_a_fairness_table_with_no_group_says_there_is_no_data(web, browser_for):
    # Before: with no decision yet each table showed its column heads over nothing at all.
    page = browser_for("admin_national").get("/ui/oversight").text
    bodies = _fairness_bodies(page)
    assert bodies, "no fairness table"
    no_data = translator("en")("oversight.no_data")
    assert all("<tr>" in body and no_data in body for body in bodies), bodies


def _unit_kinds() -> dict[str, str]:
    """Each criterion of configs/welfare.yaml that is a sum of money or an area: its kind."""
    config = yaml.safe_load((ROOT / "configs" / "welfare.yaml").read_text(encoding="utf-8"))
    return {c["name"]: c["kind"] for c in config["criteria"] if c["kind"] in UNIT_WORDS}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_reason_names_the_unit_of_its_figure(language):
    # Before: "Declared monthly income ... divided by its members: 35,483" and "Living area
    # ..., per member: 15.45" (English) gave a bare number; only ru and kk named m² for area.
    kinds = _unit_kinds()
    assert {"money", "area"} <= set(kinds.values())
    t = translator(language)
    for feature, kind in kinds.items():
        reason = {
            "code": "reason.level_supports",
            "params": {"feature": feature, "value": 35483.0, "level": 2},
            "text": "-",
        }
        assert UNIT_WORDS[kind][language] in t.statement(reason), (feature, language)


def test_the_english_photo_doubt_reads_as_a_sentence():
    # Before: "0 usable photo(s); at least 1 needed".
    doubt = {"code": "doubt.too_few_photos", "params": {"usable": 0, "required": 1}, "text": "-"}
    said = translator("en").statement(doubt)
    assert "(s)" not in said and "0" in said and "1" in said, said


def test_the_password_form_names_its_account_for_password_managers(web, browser_for):
    # Before: the form held passwords only; a password manager could not tell whose password
    # changed (Chromium: "Password forms should have (optionally hidden) username fields").
    client = browser_for("commission")
    page = client.get("/ui/password").text
    form = page.split('action="/ui/password"')[1].split("</form>")[0]
    field = re.search(r"<input[^>]*autocomplete=\"username\"[^>]*>", form)
    assert field, form
    assert 'value="commission"' in field.group(0) and "readonly" in field.group(0)
    new = "another horse battery"
    form_data = {"csrf_token": csrf_from(page), "username": "commission"}
    form_data |= {"current_password": PASSWORD, "new_password": new, "new_password_again": new}
    changed = client.post("/ui/password", data=form_data, follow_redirects=False)
    assert changed.status_code == 303, changed.text  # the name sent with it changes nothing


def test_a_refused_sign_in_ties_its_reason_to_the_password_field_it_focuses(web):
    # Before: only the user name field named the reason; the password field, which takes the
    # focus after a refusal, was read out without it.
    from fastapi.testclient import TestClient

    client = TestClient(web.app, base_url="http://127.0.0.1")
    refused = sign_in(client, "commission", "not the password")
    assert refused.status_code != 303
    field = re.search(r"<input id=\"password\"[^>]*>", refused.text)
    assert field and "autofocus" in field.group(0), refused.text
    assert 'aria-describedby="login-error"' in field.group(0)


def test_the_audit_log_says_when_older_entries_are_left_out(web, browser_for, monkeypatch):
    # Before: the page showed the newest entries and nothing more, without a word: page views
    # alone push an hour's uploads and decisions off it, and "Entries shown: 200" read as the
    # whole log.
    from serving.web.routes import oversight

    admin = browser_for("admin_national")
    for family_id in ("F1", "F2", "F3", "F4"):
        web.create_family(family_id)
    monkeypatch.setattr(oversight, "AUDIT_ROWS", 3)
    page = admin.get("/ui/audit").text
    assert page.count("<tr><td>") == 3
    assert 'id="audit-cut"' in page
    assert translator("en")("audit.cut", n=3) in page.replace("&#39;", "'")
    few = admin.get("/ui/audit", params={"code": "login"}).text  # all of them shown
    assert few.count("<tr><td>") == 1 and 'id="audit-cut"' not in few
