"""The pages in a real browser: Debian's Chromium driven by Playwright against a live server.

One uvicorn server (`seeded_server` of tests/web/conftest.py: tiny exported photo model with
model.pt, small fusion model, SQLite) and one headless Chromium serve every test here; each role
gets a fresh browser context. Screenshots of the key pages go to test-output/screenshots/.
"""

from __future__ import annotations

import re

import pytest

from tests.serving.helpers import PASSWORD
from tests.web import live
from tests.web.browser_helpers import assert_accessible, shot

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LANDING = {
    "commission": ("/ui/families", "Families"),
    "inspector": ("/ui/upload", "Upload photos"),
    "admin": ("/ui/oversight", "Oversight"),
    "annotator": ("/ui/", "Start"),
}


@pytest.mark.parametrize("role", sorted(LANDING))
def test_each_role_signs_in_and_lands_on_its_page(seeded_signed_in, role):
    page = seeded_signed_in(role)
    path, heading = LANDING[role]
    assert page.url.endswith(path)
    assert page.locator("h1").inner_text() == heading
    cookie = next(c for c in page.context.cookies() if c["name"] == "shanyraq_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    assert "shanyraq_session" not in page.evaluate("document.cookie")  # scripts cannot read it
    nav = page.locator("header nav[aria-label=Main] a").all_inner_texts()
    assert ("Oversight" in nav) == (role == "admin") and ("Families" in nav) == (
        role in ("commission", "admin")
    )
    assert_accessible(page)
    shot(page, f"landing-{role}", full_page=False)


def test_commission_reviews_a_family_and_records_an_override(seeded_signed_in, seeded_server):
    page = seeded_signed_in("commission")
    rows = page.locator("table.list tbody tr")
    assert rows.first.get_attribute("class") == "status-needs_review"  # needs_review first
    assert page.locator("li.flag", has_text="reused photo").count() >= 1
    shot(page, "families")
    page.click("a:text('F-101')")
    page.wait_for_url("**/ui/families/F-101")
    assert page.locator(".advisory").inner_text().startswith("Advisory only.")
    assert page.locator("table.probs").first.locator("tr").count() == 6  # P(level) for 1..6
    assert page.locator("figure.photo").count() == 3
    assert_accessible(page)
    toggle = page.locator("figure.photo").first.locator("button[data-heatmap$='/damp_mould']")
    toggle.focus()
    page.keyboard.press("Enter")  # keyboard, not a mouse click
    page.wait_for_function(
        """() => { const img = document.querySelector('figure.photo img');
                   return img.src.includes('/heatmap/') && img.complete
                          && img.naturalWidth > 0; }"""
    )
    assert toggle.get_attribute("aria-pressed") == "true"
    shot(page, "family-page")
    latest = seeded_server.api("commission").get("/families/F-101/assessments/latest").json()
    decided = 1 if latest["level"] != 1 else 6
    page.check("input[name=kind][value=override]")
    page.select_option("#decided-level", str(decided))
    page.select_option("#reason-code", "income_evidence")
    page.fill("#reason", "Bank statement shows wage arrears since March.")
    page.click("#decision-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/families/F-101\?decided=\d+"))
    assert page.locator("p.ok[role=status]").inner_text() == "The decision was recorded."
    history = page.locator("#decision table.list tbody tr").first.inner_text()
    assert "Bank statement shows wage arrears since March." in history and f"→ {decided}" in history
    auditor = seeded_signed_in("admin")
    auditor.goto(f"{seeded_server.url}/ui/audit?action=decision_recorded")
    entry = auditor.locator("table.audit tbody tr", has_text="family_id=F-101").first
    text = entry.inner_text()
    assert "commission" in text and "reason_code=income_evidence" in text
    assert f"decided_level={decided}" in text
    auditor.goto(f"{seeded_server.url}/ui/audit?action=heatmap_viewed")
    assert auditor.locator("table.audit tbody tr", has_text="commission").count() >= 1
    shot(auditor, "audit-log")


def test_inspector_uploads_a_blurred_photo_from_a_phone_and_sees_the_retake_hint(seeded_signed_in):
    from tests.web.helpers import blurred_photo

    page = seeded_signed_in("inspector", phone=True)
    file_input = page.locator("#files")
    assert file_input.get_attribute("accept") == "image/*"
    assert file_input.get_attribute("capture") == "environment"
    assert_accessible(page)
    page.select_option("#family-id", "F-103")
    file_input.set_input_files(
        files=[{"name": "kitchen.jpg", "mimeType": "image/jpeg", "buffer": blurred_photo(11)}]
    )
    page.click("#upload-form button[type=submit]")
    hint = page.locator("#upload-results .retake")
    hint.wait_for()
    assert hint.inner_text().startswith("The photo is blurred. Hold the phone still")
    assert page.locator("#upload-results .badge").first.inner_text() == "unusable"
    assert page.locator("header.top").count() == 1  # the result came in place, not a new page
    shot(page, "upload-retake")


def test_a_user_of_another_region_cannot_open_the_family_by_url(seeded_signed_in, seeded_server):
    page = seeded_signed_in("commission_other")
    answer = page.goto(f"{seeded_server.url}/ui/families/F-101")
    assert answer.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    photo = seeded_server.seeded["kitchen_photo_id"]
    assert page.goto(f"{seeded_server.url}/ui/photos/{photo}/image").status == 404
    page.goto(f"{seeded_server.url}/ui/families")
    assert page.locator("a:text('F-101')").count() == 0
    page.goto(f"{seeded_server.url}/ui/families/F-101")
    shot(page, "not-found", full_page=False)


def test_admin_sees_oversight_plots(seeded_signed_in):
    page = seeded_signed_in("admin")
    images = page.locator("main img")
    assert images.count() >= 6
    assert page.evaluate(
        "() => [...document.querySelectorAll('main img')].every(i => i.naturalWidth > 0)"
    )
    assert "overrides" in page.locator("#h-overrides + p").inner_text()
    assert_accessible(page)
    shot(page, "oversight")


def test_family_page_in_kazakh_and_russian(seeded_signed_in, seeded_server):
    page = seeded_signed_in("commission")  # one sign-in: the login rate limit counts every test's
    page.goto(f"{seeded_server.url}/ui/families/F-101?lang=kk")
    assert page.locator("html").get_attribute("lang") == "kk"
    assert page.locator(".advisory strong").inner_text() == "Тек ұсыныс."
    shot(page, "family-page-kk", full_page=False)
    # Reasons and review doubts come from welfare as codes, worded in the reader's language.
    page.goto(f"{seeded_server.url}/ui/families/F-102?lang=ru")
    doubts = page.locator("ul.doubts li").all_inner_texts()
    assert any(d.startswith("Фото, уже поданных для другой семьи: ") for d in doubts), doubts
    latest = seeded_server.api("commission").get("/families/F-102/assessments/latest").json()
    reasons = page.locator("ol.reasons li").all_inner_texts()
    assert len(reasons) == len(latest["result"]["reasons"]) > 3  # rules, model, missing
    for text in doubts + reasons:  # in Russian, with no English words left
        assert re.search("[а-яё]", text) and not re.search("[A-Za-z]{3,}", text), text
    shot(page, "family-page-ru", full_page=False)


def test_a_level_set_by_the_rule_is_shown_apart_from_the_models_probabilities(
    seeded_signed_in, seeded_server
):
    from tests.serving.helpers import criteria, family_body

    rich = {**family_body("F-106"), "criteria": criteria(
        per_capita_income_kzt=400_000.0, dwellings_owned=2.0, vehicles_owned=2.0,
        has_legal_entity=1.0,
    )}  # fmt: skip
    assert seeded_server.api("inspector").post("/families", json=rich).status_code == 201
    assessed = seeded_server.api("inspector").post("/families/F-106/assessments")
    assert assessed.status_code == 201, assessed.text
    assert assessed.json()["result"]["level_source"] == "rule"
    page = seeded_signed_in("commission")
    page.goto(f"{seeded_server.url}/ui/families/F-106")
    assert "set by the level-6 rule" in page.locator("main").inner_text()
    caption = page.locator("table.probs caption").inner_text()
    assert caption.startswith("The model's probability of each level")


def _expired_session_cookie(seeded_server: live.LiveServer, username: str) -> str:
    """A session token of `username` that expired two minutes ago."""
    from sqlalchemy import select

    from serving.core.security import create_token
    from serving.db.models import User

    services = seeded_server.app.state.services
    with services.sessions() as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one()
        return create_token(
            user_id=user.id, username=username, role=user.role, region=user.region,
            key=services.signing_key, ttl_s=-120,
        )  # fmt: skip


DRAFTS = "Object.keys(sessionStorage).filter(k => k.startsWith('shanyraq.decision-draft:'))"


def test_a_decision_sent_after_the_session_ended_is_filled_in_again(
    seeded_signed_in, seeded_server
):
    from tests.serving.helpers import family_body

    assert (
        seeded_server.api("inspector").post("/families", json=family_body("F-107")).status_code
        == 201
    )
    page = seeded_signed_in("commission")
    page.goto(f"{seeded_server.url}/ui/families/F-107")
    latest = seeded_server.api("commission").get("/families/F-107/assessments/latest").json()
    decided = str(1 if latest["level"] != 1 else 6)
    reason = "The son moved out in May; two people live here now."
    page.check("input[name=kind][value=override]")
    page.select_option("#decided-level", decided)
    page.select_option("#reason-code", "household_changed")
    page.fill("#reason", reason)
    # The meeting ran long: the session's token expired before the form was sent.
    cookie = next(c for c in page.context.cookies() if c["name"] == "shanyraq_session")
    page.context.add_cookies(
        [{**cookie, "value": _expired_session_cookie(seeded_server, "commission")}]
    )
    page.click("#decision-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/login\?next=/ui/families/F-107%3Funsent%3D1$"))
    page.fill("#username", "commission")
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(re.compile(r".*/ui/families/F-107\?unsent=1$"))
    restored = page.locator("#decision-draft")
    assert restored.is_visible() and restored.inner_text().startswith(
        "The decision you last sent from this page was not recorded."
    )
    assert page.locator("#unsent").inner_text() == restored.inner_text()
    assert page.is_checked("input[name=kind][value=override]")
    assert page.input_value("#decided-level") == decided
    assert page.input_value("#reason-code") == "household_changed"
    assert page.input_value("#reason") == reason
    assert page.evaluate("document.querySelector('.override-fields').disabled") is False
    assert page.evaluate(DRAFTS) == []  # read once
    assert_accessible(page)
    shot(page, "decision-restored", full_page=False)
    page.click("#decision-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/families/F-107\?decided=\d+"))
    assert page.locator("p.ok[role=status]").inner_text() == "The decision was recorded."
    assert reason in page.locator("#decision table.list tbody tr").first.inner_text()
    assert page.evaluate(DRAFTS) == []  # recorded: nothing is filled in again
    page.goto(f"{seeded_server.url}/ui/families/F-107")
    assert page.locator("#decision-draft").is_hidden() and page.input_value("#reason") == ""
    # Another member's draft in this tab is never shown, and signing out drops every draft.
    page.evaluate(
        """() => sessionStorage.setItem('shanyraq.decision-draft:/ui/families/F-107/decisions',
               JSON.stringify({user: 'commission_other', kind: 'override', reason: 'not yours'}))"""
    )
    page.reload()
    assert page.input_value("#reason") == "" and page.evaluate(DRAFTS) == []
    page.evaluate("() => sessionStorage.setItem('shanyraq.decision-draft:/x', '{}')")
    page.click("form.sign-out button[type=submit] >> nth=0")
    page.wait_for_url("**/ui/login")
    assert page.evaluate(DRAFTS) == []
