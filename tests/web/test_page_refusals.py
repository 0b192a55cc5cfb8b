"""What a page says when it refuses or cannot do something: in the reader's language, on the
right page, with the field at fault marked (review findings F4, F5 and F6).

- F4: a form sent after the session ended leads, after signing in again, back to the form's
  page saying that nothing was recorded; a page view keeps its filters.
- F5: a refused decision says why in the reader's words, from the refusal's code, and marks
  the field at fault; error pages and upload refusals hold no English service message for
  Russian and Kazakh readers.
- F6: the language links lead to the page being read, with its filters, never to a form's
  post-only address.

A page's form over the body limit (F9) is in test_page_body_limit.py, the oversight plots'
text alternatives (F11) in test_oversight_plot_texts.py.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import select

from serving.db.models import Assessment, Decision
from serving.db.session import session_scope
from serving.web.i18n import LANGUAGES, load_catalogues, translator
from tests.serving.helpers import OTHER_REGION, PASSWORD, Service, jpeg
from tests.web.helpers import (
    ERROR_CARD,
    LATIN_WORD,
    assessment_id,
    csrf_from,
    decision_form,
    found_text,
    language_links,
    main_words,
)


def _error_text(page: str) -> str:
    """The refusal the decision form shows."""
    return found_text(r'<p class="error" role="alert" id="decision-error">(.*?)</p>', page)


def _expire_session(web: Service, client: Any, username: str) -> None:
    """Replace the client's session cookie with a token of `username` that expired."""
    from serving.core.security import create_token

    with web.services.sessions() as session:
        from serving.db.models import User

        user = session.execute(select(User).where(User.username == username)).scalar_one()
        expired = create_token(
            user_id=user.id, username=username, role=user.role, region=user.region,
            key=web.services.signing_key, ttl_s=-120,
        )  # fmt: skip
    domains = {c.domain for c in client.cookies.jar if c.name == "shanyraq_session"}
    assert domains, "the client is not signed in"
    for domain in domains:
        client.cookies.delete("shanyraq_session", domain=domain, path="/ui")
        client.cookies.set("shanyraq_session", expired, domain=domain, path="/ui")


def _decisions(web: Service) -> list[Decision]:
    with web.services.sessions() as session:
        return list(session.execute(select(Decision)).scalars())


# --- F4: the session ended while a form was being filled in -----------------------------


def test_a_decision_sent_after_the_session_ended_leads_back_to_its_family_page(web, browser_for):
    web.create_family("F1")
    commission = browser_for("commission")
    page = commission.get("/ui/families/F1").text
    _expire_session(web, commission, "commission")
    form = decision_form(
        page, level="2", reason_code="income_evidence", reason="Employer letter shows arrears."
    )
    sent = commission.post("/ui/families/F1/decisions", data=form, follow_redirects=False)
    assert sent.status_code == 303
    assert sent.headers["location"] == "/ui/login?next=/ui/families/F1%3Funsent%3D1"
    login = commission.get(sent.headers["location"], headers={"Accept-Language": "ru"})
    assert 'name="next" value="/ui/families/F1?unsent=1"' in login.text
    again = commission.post(
        "/ui/login",
        data={"username": "commission", "password": PASSWORD, "next": "/ui/families/F1?unsent=1",
              "csrf_token": csrf_from(login.text)},
        follow_redirects=False,
    )  # fmt: skip
    assert again.status_code == 303 and again.headers["location"] == "/ui/families/F1?unsent=1"
    back = commission.get(again.headers["location"], headers={"Accept-Language": "ru"})
    assert back.status_code == 200 and "<h1>Семья F1</h1>" in back.text
    notice = re.search(r'<p class="warn" role="alert" id="unsent">(.*?)</p>', back.text)
    assert notice and notice.group(1) == load_catalogues()["ru"]["form.unsent"]
    assert _decisions(web) == []
    # Its language links lead to the family page, without the one-off notice.
    assert language_links(back.text)["kk"] == "/ui/families/F1?lang=kk"


def test_a_page_view_after_the_session_ended_keeps_its_filters(web, browser_for):
    commission = browser_for("commission")
    _expire_session(web, commission, "commission")
    listed = commission.get("/ui/families?status=needs_review&level=2", follow_redirects=False)
    assert listed.status_code == 303
    assert listed.headers["location"] == (
        "/ui/login?next=/ui/families%3Fstatus%3Dneeds_review%26level%3D2"
    )
    login = commission.get(listed.headers["location"])
    target = html.unescape(re.search(r'name="next" value="([^"]*)"', login.text).group(1))
    assert target == "/ui/families?status=needs_review&level=2"
    answer = sign_in_to(commission, target, login.text)
    assert answer.headers["location"] == target


def sign_in_to(client: Any, target: str, login_page: str) -> Any:
    return client.post(
        "/ui/login",
        data={"username": "commission", "password": PASSWORD, "next": target,
              "csrf_token": csrf_from(login_page)},
        follow_redirects=False,
    )  # fmt: skip


def test_signing_out_after_the_session_ended_leads_to_the_plain_sign_in_page(web, browser_for):
    commission = browser_for("commission")
    page = commission.get("/ui/families").text
    _expire_session(web, commission, "commission")
    for path in ("/ui/logout", "/ui/logout-all"):
        answer = commission.post(path, data={"csrf_token": csrf_from(page)}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/login", path


# --- F5: why a decision was refused, in the reader's words -------------------------------


def _set_level(web: Service, assessment_id: str, level: int | None) -> None:
    """Give the assessment a level (without a photo model the system abstains)."""
    with session_scope(web.services.sessions) as session:
        session.get(Assessment, int(assessment_id)).level = level


ASSESSED, OTHER = 3, 2
REASON = "Employer letter shows arrears."
LEVEL, CODE, TEXT = 'select id="decided-level"', 'select id="reason-code"', 'textarea id="reason"'
REFUSALS = {
    # refusal: (the assessed level, form fields, the tag and id of the field(s) at fault)
    "accept_without_level": (None, {"kind": "accept"}, 'input type="radio" name="kind"'),
    "accept_other_level": (ASSESSED, {"kind": "accept", "level": f"{OTHER}"}, LEVEL),
    "level_not_chosen": (ASSESSED, {"reason_code": "income_evidence", "reason": REASON}, LEVEL),
    "reason_code_not_chosen": (ASSESSED, {"level": f"{OTHER}", "reason": REASON}, CODE),
    "reason_too_short": (
        ASSESSED, {"level": f"{OTHER}", "reason_code": "income_evidence", "reason": "short"}, TEXT
    ),
    "level_unchanged": (
        ASSESSED,
        {"level": f"{ASSESSED}", "reason_code": "income_evidence", "reason": REASON},
        LEVEL,
    ),
}  # fmt: skip


@pytest.mark.parametrize("lang", ["ru", "kk"])
@pytest.mark.parametrize("refusal", sorted(REFUSALS))
def test_a_refused_decision_says_why_in_the_readers_words_and_marks_the_field(
    web, browser_for, refusal, lang
):
    assessed, fields, field = REFUSALS[refusal]
    web.create_family("F1")
    commission = browser_for("commission")
    page = commission.get(f"/ui/families/F1?lang={lang}").text
    _set_level(web, assessment_id(page), assessed)
    refused = commission.post("/ui/families/F1/decisions", data=decision_form(page, **fields))
    assert refused.status_code == 422
    said = _error_text(refused.text)
    t = translator(lang)
    assert said.startswith(t("decision.refused"))
    assert not LATIN_WORD.search(said), said  # no English, no internal codes
    if refusal == "reason_code_not_chosen":  # the reasons as the form's labels
        assert t.label("reason_code", "income_evidence") in said
    if "level" in refusal and assessed is not None and refusal != "level_not_chosen":
        assert t.label("level", assessed) in said
    elements = re.findall(rf"<{field}[^>]*>", refused.text)
    assert elements
    for element in elements:
        assert 'aria-invalid="true"' in element
        described = re.search(r'aria-describedby="([^"]*)"', element).group(1).split()
        assert "decision-error" in described
    assert refused.text.count('aria-invalid="true"') == len(elements)  # only the field at fault
    assert _decisions(web) == []


@pytest.mark.parametrize(
    ("allow_rules_only", "lang"),
    [(True, "ru"), (False, "kk")],  # True: a site serving without a fusion model on purpose
)
def test_a_decision_on_an_assessment_gone_stale_says_why_in_the_readers_language(
    web, browser_for, allow_rules_only, lang
):
    web.services.settings.allow_rules_only = allow_rules_only
    web.create_family("F1")
    commission = browser_for("commission")
    page = commission.get(f"/ui/families/F1?lang={lang}").text
    first = int(assessment_id(page))
    with session_scope(web.services.sessions) as session:  # made by a fusion model it lacks
        row = session.get(Assessment, first)
        row.model_versions = {**row.model_versions, "fusion": "lgbm_tabular-000000000000"}
    form = decision_form(
        page, level="2", reason_code="income_evidence", reason="Employer letter shows arrears."
    )
    refused = commission.post("/ui/families/F1/decisions", data=form)
    assert refused.status_code == 409
    said = _error_text(refused.text)
    t = translator(lang)
    if allow_rules_only:  # redone on the rules alone: the page shows the new one
        assert t.label("stale_reason", "fusion_model") in said
    else:  # kept as it was: the decision waits for the fusion model
        assert t("decision_error.fusion_model_missing") in said
    assert not LATIN_WORD.search(said), said
    assert 'aria-invalid="true"' not in refused.text  # no one field is at fault
    assert _decisions(web) == []


def test_every_refusal_and_stale_reason_has_a_text_in_every_language():
    from serving.assessments import STALE_REASONS
    from serving.decisions import DECISION_REFUSALS
    from serving.reports import DRIFT_REFERENCES

    wanted = [f"decision_error.{code}" for code in DECISION_REFUSALS]
    wanted += [f"stale_reason.{code}" for code in STALE_REASONS]
    wanted += [f"drift_reference.{code}" for code in DRIFT_REFERENCES]
    for language, catalogue in load_catalogues().items():
        assert [key for key in wanted if key not in catalogue] == [], language


def test_error_pages_hold_no_english_service_message_for_russian_and_kazakh_readers(
    web, browser_for
):
    web.create_family("F9", region=OTHER_REGION)
    commission = browser_for("commission")
    for lang in ("ru", "kk"):
        missing = commission.get(f"/ui/families/F9?lang={lang}")
        forbidden = commission.get(f"/ui/oversight?lang={lang}")
        assert (missing.status_code, forbidden.status_code) == (404, 403)
        for answer in (missing, forbidden):
            assert not LATIN_WORD.search(main_words(answer.text)), main_words(answer.text)
    english = commission.get("/ui/families/F9?lang=en")
    assert "no family &#39;F9&#39; in your region" in english.text  # English readers keep it


def test_a_form_out_of_date_is_explained_not_blamed_on_the_role(web, browser_for):
    web.create_family("F1")
    commission = browser_for("commission")
    page = commission.get("/ui/families/F1?lang=ru").text
    form = decision_form(page, csrf_token="0" * 64, kind="accept")
    refused = commission.post("/ui/families/F1/decisions", data=form)
    assert refused.status_code == 403
    ru = load_catalogues()["ru"]
    assert ru["error_reason.csrf_failed"] in refused.text
    assert ru["error_help.403"] not in refused.text  # the role is not what is wrong
    # F6: this page answers a post; its language links lead to the form's page.
    assert language_links(refused.text)["en"] == "/ui/families/F1?lang=en"


def test_an_upload_refusal_without_its_own_text_is_still_in_the_readers_words(
    web, browser_for, monkeypatch
):
    from serving.errors import StorageError

    def broken(data: bytes) -> str:
        raise StorageError("the photo store at /srv/photos is not writable")

    monkeypatch.setattr(web.services.store, "put", broken)
    web.create_family("F1")
    inspector = browser_for("inspector")
    page = inspector.get("/ui/upload?lang=kk").text
    answer = inspector.post(
        "/ui/upload",
        data={"csrf_token": csrf_from(page), "family_id": "F1"},
        files=[("files", ("a.jpg", jpeg(3), "image/jpeg"))],
    )
    refusal = ERROR_CARD.search(answer.text).group(1)
    assert refusal.strip() == load_catalogues()["kk"]["upload_error.storage_failed"]


# --- F6: language links ------------------------------------------------------------------


def test_language_links_keep_the_filters_and_replace_the_language(web, browser_for):
    commission = browser_for("commission")
    page = commission.get("/ui/families?status=needs_review&level=2&lang=kk")
    links = language_links(page.text)
    assert links == {
        code: f"/ui/families?status=needs_review&level=2&lang={code}" for code in LANGUAGES
    }
    assert commission.get(links["ru"]).status_code == 200


def test_language_links_of_a_refused_decision_lead_to_the_family_page(web, browser_for):
    web.create_family("F1")
    commission = browser_for("commission")
    page = commission.get("/ui/families/F1").text
    refused = commission.post("/ui/families/F1/decisions", data=decision_form(page))
    assert refused.status_code == 422
    links = language_links(refused.text)
    assert links == {code: f"/ui/families/F1?lang={code}" for code in LANGUAGES}
    assert "Семья F1" in commission.get(links["ru"]).text
