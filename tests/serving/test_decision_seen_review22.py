"""Decisions and their `seen_decision_id` (review 22, follow-up): the reports tell an old API
client's resend by it (serving.report_overrides), so the decision's audit entry pins it and
`audit verify` reports one changed behind the service (set to NULL, a decision would count as a
copy); entries written before the field existed are not taken for tampered ones. The family
page marks a copy the reports count once instead of showing it as the newest word unmarked. On
SQLite and PostgreSQL."""

from __future__ import annotations

import html
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from serving import audit
from serving.db.models import AuditEntry, Decision
from serving.db.session import session_scope
from tests.serving.decision_helpers import (
    ACCEPT,
    OTHER_OVERRIDE,
    OVERRIDE,
    assess,
    audit_verified,
    second_commission_member,
    send_decision,
)
from tests.serving.helpers import PASSWORD
from tests.web.helpers import sign_in

COPY_MARK = "(the same decision sent again: counted once)"


def _entries_seen(service: Any) -> dict[int, Any]:
    """Each decision's id -> its entry's seen_decision_id ("absent": the entry has none)."""
    with session_scope(service.services.sessions) as session:
        rows = session.execute(
            select(AuditEntry.target, AuditEntry.details).where(
                AuditEntry.action == "decision_recorded"
            )
        ).all()
        return {
            int(target.partition(":")[2]): details.get("seen_decision_id", "absent")
            for target, details in rows
        }


def _set_seen(service: Any, decision_id: int, seen: int | None) -> None:
    with session_scope(service.services.sessions) as session:  # an edit behind the service
        session.execute(
            update(Decision).where(Decision.id == decision_id).values(seen_decision_id=seen)
        )


def _three_decisions(service: Any) -> tuple[int, int, int]:
    """Sent having seen none (0), having seen the first, and without seen_decision_id."""
    service.create_family("F1")
    aid = assess(service)
    first = send_decision(service, aid, OVERRIDE, "commission", seen=0)
    second = send_decision(service, aid, ACCEPT, "commission", seen=first)
    third = send_decision(service, aid, OTHER_OVERRIDE, "commission", seen=None)
    return first, second, third


def test_the_decision_entry_pins_the_seen_decision_id_sent(service):
    first, second, third = _three_decisions(service)
    assert _entries_seen(service) == {first: 0, second: first, third: None}
    assert audit_verified(service)["ok"] is True


@pytest.mark.parametrize("which, changed_to", [(0, None), (1, None), (2, 0)])
def test_a_seen_decision_id_changed_behind_the_service_is_reported(service, which, changed_to):
    """Set to NULL, the second decision (sent having seen the first) would count as an old
    client's copy; a NULL one given an id, a copy would count as a decision of its own."""
    decisions = _three_decisions(service)
    target = decisions[which]
    _set_seen(service, target, changed_to)
    result = audit_verified(service)
    assert result["ok"] is False
    assert result["problems"] == [
        f"decision {target}: its seen_decision_id differ from audit entry "
        f"{_entry_seq(service, target)}: changed after it was recorded"
    ]


def _entry_seq(service: Any, decision_id: int) -> int:
    with session_scope(service.services.sessions) as session:
        return int(
            session.execute(
                select(AuditEntry.seq).where(AuditEntry.target == f"decision:{decision_id}")
            ).scalar_one()
        )


def test_entries_from_before_the_field_are_not_reported(service, monkeypatch):
    """Decisions recorded before the entry carried seen_decision_id (its entry has none, the
    decision NULL after migration 0013 or any value since) verify intact."""
    appended = audit.append

    def as_before(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("action") == "decision_recorded":  # the entry as written before
            kwargs["details"] = {
                k: v for k, v in kwargs["details"].items() if k != "seen_decision_id"
            }
        return appended(*args, **kwargs)

    service.create_family("F1")
    aid = assess(service)
    with monkeypatch.context() as patched:
        patched.setattr(audit, "append", as_before)
        first = send_decision(service, aid, OVERRIDE, "commission", seen=0)
        second = send_decision(service, aid, ACCEPT, "commission", seen=first)
    third = send_decision(service, aid, OTHER_OVERRIDE, "commission", seen=second)
    assert _entries_seen(service) == {first: "absent", second: "absent", third: second}
    _set_seen(service, first, None)
    assert audit_verified(service)["ok"] is True
    _set_seen(service, third, None)  # an entry that has it is still checked
    assert [p.partition(":")[0] for p in audit_verified(service)["problems"]] == [
        f"decision {third}"
    ]


def _family_page(service: Any) -> str:
    browser = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "commission", PASSWORD).status_code == 303
    page = browser.get("/ui/families/F1?lang=en")
    assert page.status_code == 200, page.text
    return html.unescape(page.text)


def _history_rows(page: str) -> list[str]:
    """The decision history's rows, newest first."""
    body = page.partition('id="h-history"')[2].partition("<tbody>")[2].partition("</tbody>")[0]
    return [row for row in body.split("<tr>") if row.strip()]


def test_the_family_page_marks_an_old_clients_resend(service):
    """A accepts from an old client, B overrides, A's client sends the accept again: the page
    lists all three, the newest marked as the copy the reports count once, and the decision
    form names B's override as the assessment's decision, not A's copy."""
    second_commission_member(service)
    service.create_family("F1")
    aid = assess(service)
    send_decision(service, aid, ACCEPT, "commission", seen=None)
    send_decision(service, aid, OVERRIDE, "commission_b", seen=None)
    send_decision(service, aid, ACCEPT, "commission", seen=None)
    page = _family_page(service)
    rows = _history_rows(page)
    assert len(rows) == 3
    assert [COPY_MARK in row for row in rows] == [True, False, False]
    assert "A decision on this assessment exists already (overridden, level 2)" in page


def test_the_family_page_marks_no_decision_the_reports_count(service):
    """The same decision after another member's, sent having seen it, is a decision of its
    own (the reports count it): no mark."""
    second_commission_member(service)
    service.create_family("F1")
    aid = assess(service)
    first = send_decision(service, aid, ACCEPT, "commission", seen=0)
    overridden = send_decision(service, aid, OVERRIDE, "commission_b", seen=first)
    send_decision(service, aid, ACCEPT, "commission", seen=overridden)
    page = _family_page(service)
    assert len(_history_rows(page)) == 3
    assert COPY_MARK not in page
    assert "A decision on this assessment exists already (accepted, level 3)" in page


def test_the_api_shows_each_decisions_seen_decision_id(service):
    first, second, third = _three_decisions(service)
    listed = service.client.get("/families/F1/decisions", headers=service.headers("admin"))
    assert listed.status_code == 200, listed.text
    shown = {d["decision_id"]: d["seen_decision_id"] for d in listed.json()}
    assert shown == {first: 0, second: first, third: None}
    aid = listed.json()[0]["assessment_id"]
    again = service.client.post(  # a resend answers with the decision first recorded
        f"/assessments/{aid}/decisions",
        json={**OTHER_OVERRIDE, "seen_decision_id": second},
        headers=service.headers("commission"),
    )
    assert again.status_code == 201, again.text
    assert (again.json()["decision_id"], again.json()["seen_decision_id"]) == (third, None)
