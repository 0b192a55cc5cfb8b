"""Helpers of the decision and report tests: the bodies of an override and an accept, a family's
assessment made at a given level, a decision sent on it by a commission member (or both at
once), the decisions the database holds, a report as the admin reads it, and the oversight
page."""

from __future__ import annotations

import html
from typing import Any

from sqlalchemy import select

from serving.db.models import Assessment, Decision
from serving.db.session import session_scope
from tests.serving.helpers import PASSWORD

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
