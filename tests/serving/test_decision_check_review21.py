"""Decisions checked against their audit entries (review 21): `audit verify` (the API's, the
CLI's through the same function) reports a decision whose reason, level or kind was changed
in the decisions table, one deleted, and one added behind the service, which the chain alone
cannot see (the decisions table is not hash-chained). On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from serving.db.models import Decision
from serving.db.session import session_scope
from tests.serving.decision_helpers import ACCEPT, IN_KAZAKH, assess, audit_verified, decide


def _two_decisions(service: Any) -> tuple[int, int]:
    service.create_family("F1")
    overridden = decide(service, assess(service), IN_KAZAKH)
    accepted = decide(service, assess(service), ACCEPT)
    assert overridden.status_code == accepted.status_code == 201, overridden.text
    return overridden.json()["decision_id"], accepted.json()["decision_id"]


def test_decisions_as_recorded_verify_intact(service):
    _two_decisions(service)
    assert audit_verified(service)["ok"] is True


def test_a_reason_or_level_changed_behind_the_service_is_reported(service):
    overridden, accepted = _two_decisions(service)
    with session_scope(service.services.sessions) as session:
        session.execute(
            update(Decision).where(Decision.id == overridden).values(reason="no arrears at all")
        )
        session.execute(update(Decision).where(Decision.id == accepted).values(decided_level=6))
    result = audit_verified(service)
    assert result["ok"] is False
    problems = "\n".join(result["problems"])
    assert f"decision {overridden}: its reason differ" in problems
    assert f"decision {accepted}: its decided_level differ" in problems


def test_a_decision_deleted_or_added_behind_the_service_is_reported(service):
    overridden, accepted = _two_decisions(service)
    with session_scope(service.services.sessions) as session:
        row = session.execute(select(Decision).where(Decision.id == accepted)).scalar_one()
        values = {c.name: getattr(row, c.name) for c in Decision.__table__.columns}
        session.execute(delete(Decision).where(Decision.id == overridden))
        session.execute(insert(Decision).values({**values, "id": accepted + 100}))
    problems = "\n".join(audit_verified(service)["problems"])
    assert f"decision {overridden} (audit entry" in problems and "was deleted" in problems
    assert f"no audit entry records (added outside the service): {accepted + 100}" in problems


def test_a_decision_entry_whose_details_are_not_json_is_reported_not_a_crash(service):
    # Before: the decisions check read details through the JSON column and crashed on a
    # tampered SQLite row that the chain's own walk reports (serving.audit_read).
    from sqlalchemy import text

    from tests.serving.audit_helpers import drop_audit_guards

    if service.services.sessions.kw["bind"].dialect.name != "sqlite":
        pytest.skip("PostgreSQL's json column takes no text that is not JSON")
    overridden, _ = _two_decisions(service)
    with session_scope(service.services.sessions) as session:
        drop_audit_guards(session)
        session.execute(
            text("UPDATE audit_log SET details = '{\"kind\": ' WHERE target = :t"),
            {"t": f"decision:{overridden}"},
        )
    result = audit_verified(service)
    assert result["ok"] is False
    assert any("details cannot be read (not JSON" in p for p in result["problems"])
