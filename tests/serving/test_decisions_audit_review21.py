"""Decisions and their audit (review 21): a decision's audit entry pins its reason's words
(`reason_sha256`), so a reason changed in the decisions table, which no chain protects, no
longer matches its hash-chained entry; a member's decision sent again after another member
decided (the first answer was lost) is the member's own first one, not a second copy. On
SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select, update

from serving.db.models import AuditEntry, Decision
from serving.db.session import session_scope
from tests.serving.decision_helpers import (
    ACCEPT,
    IN_KAZAKH,
    OVERRIDE,
    assess,
    count_decisions,
    decide,
)
from tests.serving.helpers import PASSWORD, REGION


def _reasons_against_entries(service: Any) -> dict[int, tuple[str, str]]:
    """Each decision's id -> (SHA-256 of its reason now, the reason_sha256 of its entry)."""
    with session_scope(service.services.sessions) as session:
        entries = session.execute(
            select(AuditEntry.target, AuditEntry.details).where(
                AuditEntry.action == "decision_recorded"
            )
        ).all()
        pinned = {target: details.get("reason_sha256") for target, details in entries}
        decisions = session.execute(select(Decision.id, Decision.reason)).all()
        return {
            did: (hashlib.sha256(reason.encode()).hexdigest(), pinned[f"decision:{did}"])
            for did, reason in decisions
        }


def test_the_decision_entry_pins_the_reason_so_a_changed_reason_shows(service):
    service.create_family("F1")
    overridden = decide(service, assess(service), IN_KAZAKH)
    assert overridden.status_code == 201, overridden.text
    accepted = decide(service, assess(service), ACCEPT)  # no words: the empty reason's hash
    assert accepted.status_code == 201, accepted.text
    compared = _reasons_against_entries(service)
    assert len(compared) == 2
    assert all(now == pinned for now, pinned in compared.values()), compared

    target = overridden.json()["decision_id"]
    with session_scope(service.services.sessions) as session:  # an edit behind the service
        session.execute(
            update(Decision).where(Decision.id == target).values(reason="no arrears at all")
        )
    compared = _reasons_against_entries(service)
    changed = [did for did, (now, pinned) in compared.items() if now != pinned]
    assert changed == [target]


def _second_member(service: Any) -> dict[str, str]:
    """Headers of another commission member of the region."""
    from serving.core.security import create_token
    from serving.users import create_user

    services = service.services
    with session_scope(services.sessions) as session:
        user = create_user(
            session, username="commission_b", password=PASSWORD, role="commission", region=REGION
        )
        token = create_token(
            user_id=user.id, username="commission_b", role="commission", region=REGION,
            key=services.signing_key, ttl_s=600,
        )  # fmt: skip
    return {"Authorization": f"Bearer {token}"}


def test_a_resend_after_another_members_decision_is_the_members_own_first(service):
    service.create_family("F1")
    aid = assess(service)
    sent = {**OVERRIDE, "seen_decision_id": 0}
    first = decide(service, aid, sent)  # recorded, but its answer never reached the member
    assert first.status_code == 201, first.text
    mine = first.json()["decision_id"]
    theirs = {**OVERRIDE, "level": 4, "seen_decision_id": mine}
    other = service.client.post(
        f"/assessments/{aid}/decisions", json=theirs, headers=_second_member(service)
    )
    assert other.status_code == 201, other.text

    again = decide(service, aid, sent)  # the member's retry, as first sent
    assert again.status_code == 201, again.text
    assert again.json()["decision_id"] == mine
    assert count_decisions(service) == 2

    # A decision of the member's that was not recorded is still stopped by the other's.
    changed = decide(service, aid, {**sent, "level": 1})
    assert changed.status_code == 409, changed.text
    assert changed.json()["refusal"] == "decided_meanwhile"
    assert f"decision {other.json()['decision_id']}: override, level 4" in changed.json()["message"]
    assert count_decisions(service) == 2
