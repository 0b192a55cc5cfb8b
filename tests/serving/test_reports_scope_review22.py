"""Reports (review 22): a report says which region it covers, and a `region` asked for is
honoured, refused or rejected, never silently replaced by the caller's own scope (a figure
of one region read as another's). On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.serving.helpers import OTHER_REGION, REGION

OVERRIDE = {"kind": "override", "level": 2, "reason_code": "income_evidence",
            "reason": "employer letter shows wage arrears"}  # fmt: skip
REPORTS = ("overrides", "fairness", "drift")


def _override(service: Any, family_id: str, region: str, who: str) -> None:
    """`family_id` filed in `region` and overridden by that region's commission (`who`)."""
    service.create_family(family_id, region=region)
    made = service.client.post(f"/families/{family_id}/assessments", headers=service.headers(who))
    assert made.status_code == 201, made.text
    sent = service.client.post(
        f"/assessments/{made.json()['assessment_id']}/decisions", json=OVERRIDE,
        headers=service.headers(who),
    )  # fmt: skip
    assert sent.status_code == 201, sent.text


def _get(service: Any, name: str, who: str, **params: str) -> Any:
    return service.client.get(f"/reports/{name}", params=params, headers=service.headers(who))


def _viewed(service: Any) -> list[tuple[str, str | None, dict[str, Any]]]:
    from sqlalchemy import select

    from serving.db.models import AuditEntry
    from serving.db.session import session_scope

    statement = select(AuditEntry).where(AuditEntry.action == "report_viewed")
    with session_scope(service.services.sessions) as session:
        rows = session.execute(statement.order_by(AuditEntry.seq)).scalars()
        return [(row.actor, row.target, dict(row.details or {})) for row in rows]


@pytest.mark.parametrize("name", REPORTS)
def test_a_national_admin_gets_the_region_it_asks_for(service, name):
    _override(service, "F1", REGION, "commission")
    _override(service, "F2", OTHER_REGION, "commission_other")
    answer = _get(service, name, "admin_national", region=OTHER_REGION)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["region"] == OTHER_REGION
    if name == "overrides":
        assert body["decisions"] == 1 and list(body["by_region"]) == [OTHER_REGION]
    if name == "fairness":
        assert list(body["groupings"]["region"]["groups"]) == [OTHER_REGION]
    assert _viewed(service)[-1] == ("admin_national", f"report:{name}", {"region": OTHER_REGION})
    for every in ({}, {"region": ""}):  # none named: every region
        assert _get(service, name, "admin_national", **every).json()["region"] is None


@pytest.mark.parametrize("name", REPORTS)
@pytest.mark.parametrize("who", ["commission", "admin"])
def test_a_regional_user_asking_for_another_region_is_refused_not_shown_its_own(service, name, who):
    _override(service, "F1", REGION, "commission")
    answer = _get(service, name, who, region=OTHER_REGION)
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "region_out_of_scope"
    assert REGION in answer.json()["message"] and OTHER_REGION in answer.json()["message"]
    assert _viewed(service) == []  # nothing was shown
    own = _get(service, name, who, region=REGION)
    assert own.status_code == 200 and own.json()["region"] == REGION
    assert _get(service, name, who).json()["region"] == REGION


@pytest.mark.parametrize("name", REPORTS)
def test_an_unknown_region_is_rejected_naming_the_known_ones(service, name):
    answer = _get(service, name, "admin_national", region="atlantis")
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "record_invalid"
    assert REGION in answer.json()["message"] and OTHER_REGION in answer.json()["message"]


def test_the_openapi_documents_the_region_and_its_refusals(service):
    spec = service.client.get("/openapi.json").json()
    for name in REPORTS:
        operation = spec["paths"][f"/reports/{name}"]["get"]
        assert [p["name"] for p in operation.get("parameters", [])] == ["region"]
        assert {"401", "403", "422"} <= set(operation["responses"])
