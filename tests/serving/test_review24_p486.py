"""Decisions checked against their audit entries (review 24, p486): `audit verify` reports a
decision moved behind the service onto another family or assessment, given another assessed
level, another member, or another region, settlement or head gender (so the override and
fairness reports count it elsewhere), not only one whose kind, level or words changed. On
SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from serving.db.models import Decision, User
from serving.db.session import session_scope
from tests.serving.decision_helpers import ACCEPT, assess, audit_verified, decide
from tests.serving.helpers import OTHER_REGION


def _accepted_and_other(service: Any) -> tuple[int, int]:
    """F1's accepted decision's id, and the id of F2's assessment (undecided)."""
    service.create_family("F1")
    service.create_family("F2")
    accepted = decide(service, assess(service, "F1"), ACCEPT)
    assert accepted.status_code == 201, accepted.text
    return accepted.json()["decision_id"], assess(service, "F2")


def _moved(session: Any, other_aid: int) -> dict[str, Any]:
    return {"family_id": "F2", "assessment_id": other_aid}


def _other_member(session: Any, other_aid: int) -> dict[str, Any]:
    member = session.execute(select(User.id).where(User.username == "commission_other"))
    return {"decided_by": member.scalar_one()}


CHANGES = {
    "family_id": _moved,
    "assessment_id": lambda session, aid: {"assessment_id": aid},
    "model_level": lambda session, aid: {"model_level": 6},
    "decided_by": _other_member,
    "region": lambda session, aid: {"region": OTHER_REGION},
    "settlement": lambda session, aid: {"settlement": "rural_other"},
    "head_gender": lambda session, aid: {"head_gender": "other"},
}


@pytest.mark.parametrize("changed", list(CHANGES))
def test_a_decision_moved_or_reattributed_behind_the_service_is_reported(service, changed):
    decision_id, other_aid = _accepted_and_other(service)
    assert audit_verified(service)["ok"] is True
    with session_scope(service.services.sessions) as session:
        values = CHANGES[changed](session, other_aid)
        session.execute(update(Decision).where(Decision.id == decision_id).values(**values))
    result = audit_verified(service)
    assert result["ok"] is False
    problems = "\n".join(result["problems"])
    assert f"decision {decision_id}: its " in problems
    said = problems.split(f"decision {decision_id}: its ")[1].split(" differ")[0]
    assert changed in said.split(", ")
