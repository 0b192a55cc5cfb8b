"""List reads are audited like single views: each list call appends exactly one entry."""

from __future__ import annotations

from sqlalchemy import select

from serving import audit
from serving.db.models import AuditEntry
from serving.db.session import session_scope
from tests.serving.helpers import jpeg

OVERRIDE = {"kind": "override", "level": 2, "reason_code": "income_evidence",
            "reason": "employer letter shows wage arrears"}  # fmt: skip


def _entries_after(service, seq: int) -> list[AuditEntry]:
    with session_scope(service.services.sessions) as session:
        statement = select(AuditEntry).where(AuditEntry.seq > seq).order_by(AuditEntry.seq)
        entries = list(session.execute(statement).scalars())
        session.expunge_all()
        return entries


def _last_seq(service) -> int:
    entries = _entries_after(service, 0)
    return entries[-1].seq if entries else 0


def _listed(service, url: str, who: str, **params) -> tuple[list, AuditEntry]:
    """GET a list route; its items and the one audit entry it wrote."""
    before = _last_seq(service)
    response = service.client.get(url, headers=service.headers(who), params=params)
    assert response.status_code == 200, response.text
    new = _entries_after(service, before)
    assert len(new) == 1, [e.action for e in new]
    assert new[0].actor == who
    return response.json(), new[0]


def _seed(service) -> None:
    service.create_family("F1")
    service.create_family("F2")
    for seed in (1, 2):
        assert service.upload("F1", jpeg(seed)).status_code == 201
    assessment = service.client.post(
        "/families/F1/assessments", headers=service.headers("inspector")
    )
    assert assessment.status_code == 201, assessment.text
    decided = service.client.post(
        f"/assessments/{assessment.json()['assessment_id']}/decisions", json=OVERRIDE,
        headers=service.headers("commission"),
    )  # fmt: skip
    assert decided.status_code == 201, decided.text


def test_family_list_is_audited_with_its_paging(service):
    _seed(service)
    families, entry = _listed(service, "/families", "inspector", limit=1, offset=1)
    assert [f["family_id"] for f in families] == ["F2"]
    assert entry.action == "families_listed" and entry.target is None
    assert entry.details == {"limit": 1, "offset": 1, "count": 1, "region": "shymkent"}
    families, entry = _listed(service, "/families", "admin_national")
    assert entry.details == {"limit": 50, "offset": 0, "count": 2, "region": None}


def test_family_list_is_audited_when_empty(service):
    families, entry = _listed(service, "/families", "commission", offset=10)
    assert families == [] and entry.action == "families_listed"
    assert entry.details["count"] == 0


def test_per_family_lists_are_audited(service):
    _seed(service)
    cases = (
        ("/families/F1/photos", "inspector", "photos_listed", 2),
        ("/families/F1/assessments", "commission", "assessments_listed", 1),
        ("/families/F1/decisions", "commission", "decisions_listed", 1),
        ("/families/F2/photos", "admin", "photos_listed", 0),
    )
    for url, who, action, count in cases:
        items, entry = _listed(service, url, who)
        assert len(items) == count, url
        family = url.split("/")[2]
        assert (entry.action, entry.target, entry.details) == (
            action, f"family:{family}", {"count": count}
        ), url  # fmt: skip


def test_refused_list_reads_write_nothing(service):
    service.create_family("F1")
    before = _last_seq(service)
    refused = service.client.get("/families/F1/decisions", headers=service.headers("inspector"))
    missing = service.client.get("/families/NOPE/photos", headers=service.headers("inspector"))
    assert (refused.status_code, missing.status_code) == (403, 404)
    assert _entries_after(service, before) == []


def test_chain_verifies_after_list_reads(service):
    _seed(service)
    for url in ("/families", "/families/F1/photos", "/families/F1/assessments"):
        service.client.get(url, headers=service.headers("commission"))
    with session_scope(service.services.sessions) as session:
        result = audit.verify(session, service.services.signing_key)
    assert result.ok, result.problems


def test_account_list_is_audited(service):
    accounts, entry = _listed(service, "/users", "admin")
    assert entry.action == "users_listed" and entry.details == {"count": len(accounts)}


def test_report_reads_and_the_audit_check_are_audited(service):
    for report in ("overrides", "fairness", "drift"):
        _, entry = _listed(service, f"/reports/{report}", "commission")
        assert (entry.action, entry.target) == ("report_viewed", f"report:{report}")
    checked, entry = _listed(service, "/audit/verify", "admin_national")
    assert entry.action == "audit_verified" and entry.details["ok"] is checked["ok"] is True
    assert entry.details["entries"] == checked["entries"]
    with session_scope(service.services.sessions) as session:  # the chain still holds
        assert audit.verify(session, service.services.signing_key).ok
