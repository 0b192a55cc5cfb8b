"""Reports (review 21): a decision sent back on purpose after another member's decision on
the family, the same as its sender's earlier one, is a decision of its own: the family counts
by it, not by the decision it answered. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.serving.decision_helpers import ACCEPT, OVERRIDE, read_report, second_commission_member


def _decide(service: Any, aid: int, body: dict[str, Any], who: str, seen: int) -> int:
    """`who` decides `body` on assessment `aid` having seen decision `seen`; its id."""
    sent = service.client.post(
        f"/assessments/{aid}/decisions",
        json={**body, "seen_decision_id": seen},
        headers=service.headers(who),
    )
    assert sent.status_code == 201, sent.text
    return int(sent.json()["decision_id"])


def test_a_member_accepting_again_after_anothers_override_is_counted(service):
    """A accepts, B overrides having seen it, A accepts again having seen B's override: the
    service records the third decision (nothing was recorded since A looked), the family
    page lists it first, and the reports count the family by it (accepted, no override),
    with all three decisions. Taking A's second accept for a resend of the first would
    count the family as overridden by B, which the commission's latest word undid."""
    from serving.db.models import Assessment
    from serving.db.session import session_scope

    second_commission_member(service)
    service.create_family("F1")
    made = service.client.post("/families/F1/assessments", headers=service.headers("commission"))
    assert made.status_code == 201, made.text
    aid = made.json()["assessment_id"]
    with session_scope(service.services.sessions) as session:
        session.get_one(Assessment, aid).level = 3  # no fusion model here: no level to accept

    first = _decide(service, aid, ACCEPT, "commission", seen=0)
    overridden = _decide(service, aid, OVERRIDE, "commission_b", seen=first)
    again = _decide(service, aid, ACCEPT, "commission", seen=overridden)
    assert again not in (first, overridden)  # recorded anew, not given back as a copy
    listed = service.client.get("/families/F1/decisions", headers=service.headers("admin"))
    assert [d["decision_id"] for d in listed.json()] == [again, overridden, first]

    overrides = read_report(service, "overrides")
    assert (overrides["decisions"], overrides["families"], overrides["overrides"]) == (3, 1, 0)
    assert overrides["override_rate"] == 0.0 and overrides["by_reason"] == {}
    groups = read_report(service, "fairness")["groupings"]["head_gender"]["groups"]
    assert (groups["female"]["decisions"], groups["female"]["families"]) == (3, 1)
    assert groups["female"]["override_rate"] == 0.0 and groups["female"]["agreement"] == 1.0
