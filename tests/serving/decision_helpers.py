"""Helpers of the decision and report tests: the bodies of an override and an accept (another
override, one with a reason in Kazakh), a family's assessment made at a given level, a decision
sent on it by a commission member (or both at once, or by `who` with the decision it saw), a
second commission member, the decisions the database holds, a report as the admin reads it,
the oversight page, a family's record changed, and `/audit/verify` as the admin reads it."""

from __future__ import annotations

import html
from typing import Any

from sqlalchemy import select

from serving.db.models import Assessment, Decision
from serving.db.session import session_scope
from tests.serving.helpers import PASSWORD, REGION

OVERRIDE = {"kind": "override", "level": 2, "reason_code": "income_evidence",
            "reason": "employer letter shows wage arrears"}  # fmt: skip
ACCEPT = {"kind": "accept"}


def assess(service: Any, family_id: str = "F1", *, level: int | None = 3) -> int:
    """A new assessment of the family, given `level` (no fusion model here: it has none)."""
    made = service.client.post(
        f"/families/{family_id}/assessments", headers=service.headers("commission")
    )
    assert made.status_code == 201, made.text
    aid = int(made.json()["assessment_id"])
    with session_scope(service.services.sessions) as session:
        session.get_one(Assessment, aid).level = level
    return aid


def decide(service: Any, aid: int, body: dict[str, Any]) -> Any:
    """The answer to a commission member's decision `body` on assessment `aid`."""
    return service.client.post(
        f"/assessments/{aid}/decisions", json=body, headers=service.headers("commission")
    )


def count_decisions(service: Any) -> int:
    """How many decisions the service's database holds."""
    with session_scope(service.services.sessions) as session:
        return len(session.execute(select(Decision.id)).all())


def assess_and_decide(service: Any, family_id: str, body: dict[str, Any]) -> None:
    """A new assessment of the family, decided by the commission with `body`; an accepted
    one is given level 3 first (no fusion model here, so the assessment has no level)."""
    made = service.client.post(
        f"/families/{family_id}/assessments", headers=service.headers("commission")
    )
    assert made.status_code == 201, made.text
    aid = made.json()["assessment_id"]
    if body["kind"] == "accept":
        with session_scope(service.services.sessions) as session:
            session.get_one(Assessment, aid).level = 3
    decided = service.client.post(
        f"/assessments/{aid}/decisions", json=body, headers=service.headers("commission")
    )
    assert decided.status_code == 201, decided.text


def read_report(service: Any, name: str) -> dict[str, Any]:
    """The report `name` (/reports/{name}) as the admin reads it."""
    answer = service.client.get(f"/reports/{name}", headers=service.headers("admin"))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def oversight_page(service: Any, lang: str = "en") -> str:
    """The oversight page as the region's admin reads it, entities unescaped."""
    from fastapi.testclient import TestClient

    from tests.web.helpers import sign_in

    browser = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "admin", PASSWORD).status_code == 303
    page = browser.get(f"/ui/oversight?lang={lang}")
    assert page.status_code == 200, page.text
    return html.unescape(page.text)


def audit_verified(service: Any) -> dict[str, Any]:
    answer = service.client.get("/audit/verify", headers=service.headers("admin_national"))
    assert answer.status_code == 200, answer.text
    return answer.json()


MOVED = {"settlement": "rural", "head_gender": "male"}  # family_body has urban, female


def change_record(service: Any, family_id: str, change: dict[str, str]) -> None:
    answer = service.client.put(
        f"/families/{family_id}", json=change, headers=service.headers("inspector")
    )
    assert answer.status_code == 200, answer.text
    assert {k: answer.json()[k] for k in change} == change


OTHER_OVERRIDE = {**OVERRIDE, "level": 4, "reason": "the home has no heating at all"}


def send_decision(service: Any, aid: int, body: dict[str, Any], who: str, seen: int | None) -> int:
    """`who` sends `body` on assessment `aid`, with `seen_decision_id` `seen` (None: as an API
    client from before it, without one); the decision_id answered."""
    sent = service.client.post(
        f"/assessments/{aid}/decisions",
        json=body if seen is None else {**body, "seen_decision_id": seen},
        headers=service.headers(who),
    )
    assert sent.status_code == 201, sent.text
    return int(sent.json()["decision_id"])


def second_commission_member(service: Any) -> None:
    """`commission_b`, another commission member of REGION, signed in."""
    from serving.db.session import session_scope
    from serving.users import create_user

    with session_scope(service.services.sessions) as session:
        create_user(
            session, username="commission_b", password=PASSWORD, role="commission", region=REGION
        )
    service.tokens["commission_b"] = service.sign_in("commission_b")


IN_KAZAKH = {**OVERRIDE, "reason": "  жұмыс берушінің хаты: жалақы қарызы  "}
