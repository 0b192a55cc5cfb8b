"""Review 13 of the pages: a decision form sent twice, or after another decision was recorded."""

from __future__ import annotations

from sqlalchemy import select

from serving.db.models import AuditEntry, Decision
from serving.web.i18n import load_catalogues
from tests.serving.helpers import PASSWORD, REGION, jpeg

OVERRIDE = {
    "kind": "override",
    "level": "2",
    "reason_code": "income_evidence",
    "reason": "Employer letter shows arrears.",
}


def _form(html: str, **values: str) -> dict[str, str]:
    """The decision form's hidden fields as the page sent them, with `values` filled in."""
    hidden = {
        name: html.split(f'name="{name}" value="')[1].split('"')[0]
        for name in ("csrf_token", "assessment_id", "seen_decision_id")
    }
    return {**hidden, **values}


def _decisions(web) -> list[Decision]:
    with web.services.sessions() as session:
        return list(session.execute(select(Decision).order_by(Decision.id)).scalars())


def _recorded_audits(web) -> list[AuditEntry]:
    with web.services.sessions() as session:
        statement = select(AuditEntry).where(AuditEntry.action == "decision_recorded")
        return list(session.execute(statement).scalars())


def _second_member(web) -> None:
    from serving.db.session import session_scope
    from serving.users import create_user

    with session_scope(web.services.sessions) as session:
        create_user(
            session, username="commission_two", password=PASSWORD, role="commission",
            region=REGION,
        )  # fmt: skip


def test_a_decision_form_sent_twice_records_one_decision(web, browser_for):
    web.create_family("F1")
    web.upload("F1", jpeg(1))
    commission = browser_for("commission")
    form = _form(commission.get("/ui/families/F1").text, **OVERRIDE)
    assert form["seen_decision_id"] == "0"
    first = commission.post("/ui/families/F1/decisions", data=form, follow_redirects=False)
    again = commission.post("/ui/families/F1/decisions", data=form, follow_redirects=False)
    # The second copy (a double click, a resend) lands on the first one's confirmation.
    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert len(_decisions(web)) == 1 and len(_recorded_audits(web)) == 1
    landed = commission.get(again.headers["location"])
    assert "The decision was recorded." in landed.text


def test_a_decision_recorded_meanwhile_is_shown_not_joined_unseen(web, browser_for):
    web.create_family("F1")
    web.upload("F1", jpeg(1))
    _second_member(web)
    first, second = browser_for("commission"), browser_for("commission_two")
    opened = second.get("/ui/families/F1").text  # opened before the first member decides
    other = _form(first.get("/ui/families/F1").text, **{**OVERRIDE, "level": "3"})
    done = first.post("/ui/families/F1/decisions", data=other, follow_redirects=False)
    assert done.status_code == 303

    refused = second.post("/ui/families/F1/decisions", data=_form(opened, **OVERRIDE))
    assert refused.status_code == 409
    assert "Another decision on this family was recorded after this page was opened" in (
        refused.text
    )
    assert "(overridden, level 3" in refused.text and "by commission)" in refused.text
    assert len(_decisions(web)) == 1
    # The page shown again carries what was typed and the decision now seen: sent again, it
    # is added, knowingly.
    assert "Employer letter shows arrears." in refused.text
    resent = _form(refused.text, **OVERRIDE)
    assert resent["seen_decision_id"] == str(_decisions(web)[0].id)
    added = second.post("/ui/families/F1/decisions", data=resent, follow_redirects=False)
    assert added.status_code == 303
    assert [d.decided_level for d in _decisions(web)] == [3, 2]


def test_the_same_member_changing_the_form_in_another_tab_is_told_too(web, browser_for):
    web.create_family("F1")
    web.upload("F1", jpeg(1))
    commission = browser_for("commission")
    tab_one = commission.get("/ui/families/F1").text
    tab_two = commission.get("/ui/families/F1").text
    commission.post("/ui/families/F1/decisions", data=_form(tab_one, **{**OVERRIDE, "level": "3"}))
    refused = commission.post("/ui/families/F1/decisions", data=_form(tab_two, **OVERRIDE))
    assert refused.status_code == 409 and len(_decisions(web)) == 1


def test_the_refusal_has_a_text_in_every_language(web, browser_for):
    for language, catalogue in load_catalogues().items():
        text = catalogue.get("decision_error.decided_meanwhile", "")
        assert all(f"{{{name}}}" in text for name in ("kind", "level", "who")), language
