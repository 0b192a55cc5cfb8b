"""Assessments are versioned; only a commission member decides; overrides are counted."""

from __future__ import annotations

from tests.serving.helpers import REGION, jpeg


def _decide(service, assessment_id, body, who="commission"):
    return service.client.post(
        f"/assessments/{assessment_id}/decisions", json=body, headers=service.headers(who)
    )


OVERRIDE = {"kind": "override", "level": 2, "reason_code": "income_evidence",
            "reason": "employer letter shows wage arrears"}  # fmt: skip


def test_assessment_records_inputs_and_versions(service):
    service.create_family("F1")
    first = service.assess("F1", who="inspector")
    assert first["version"] == 1 and first["photo_ids"] == [] and first["family_version"] == 1
    assert first["asp"] in ("eligible", "not_eligible", "needs_review")
    assert "model_versions" in first and len(first["input_hash"]) == 64
    latest = service.client.get(
        "/families/F1/assessments/latest", headers=service.headers("commission")
    )
    assert latest.json()["assessment_id"] == first["assessment_id"]  # nothing changed: same one
    service.upload("F1", jpeg(11))
    latest = service.client.get(
        "/families/F1/assessments/latest", headers=service.headers("commission")
    )
    assert latest.json()["version"] == 2 and len(latest.json()["photo_ids"]) == 1
    versions = service.client.get("/families/F1/assessments", headers=service.headers("admin"))
    assert [a["version"] for a in versions.json()] == [2, 1]


def test_override_rules_and_counts(service):
    service.create_family("F1")
    assessment = service.assess("F1", who="inspector")
    aid = assessment["assessment_id"]
    for bad, problem in (
        ({"kind": "override", "level": 2}, "reason_code"),
        ({**OVERRIDE, "reason_code": "gut_feeling"}, "reason_code"),
        ({**OVERRIDE, "reason": "no"}, "reason in words"),
    ):
        response = _decide(service, aid, bad)
        assert response.status_code == 422 and problem in response.json()["message"], response.text
    if assessment["level"] is None:  # the system abstained: accepting is impossible
        refused = _decide(service, aid, {"kind": "accept"})
        assert refused.status_code == 422 and "abstained" in refused.json()["message"]
    for who in ("inspector", "admin", "annotator"):
        assert _decide(service, aid, OVERRIDE, who=who).status_code == 403
    made = _decide(service, aid, OVERRIDE)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["decided_level"] == 2 and body["model_level"] == assessment["level"]
    assert body["decided_by"] == "commission"
    report = service.client.get("/reports/overrides", headers=service.headers("admin")).json()
    assert report["overrides"] == 1 and report["by_reason"] == {"income_evidence": 1}
    assert report["by_region"][REGION]["override_rate"] == 1.0
    fairness = service.client.get("/reports/fairness", headers=service.headers("admin")).json()
    assert fairness["groupings"]["head_gender"]["groups"]["female"]["decisions"] == 1


def test_decision_on_stale_assessment_refused(service):
    service.create_family("F1")
    old = service.assess("F1", who="inspector")
    service.upload("F1", jpeg(12))
    response = _decide(service, old["assessment_id"], OVERRIDE)
    assert response.status_code == 409 and response.json()["code"] == "conflict"


def test_accept_takes_the_assessed_level(service):
    from serving.db.models import Assessment
    from serving.db.session import session_scope

    service.create_family("F1")
    aid = service.assess("F1", who="inspector")["assessment_id"]
    with session_scope(service.services.sessions) as session:  # a model that gave a level
        session.get(Assessment, aid).level = 3
    accepted = _decide(service, aid, {"kind": "accept"})
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["decided_level"] == 3 and accepted.json()["kind"] == "accept"
    same_level = _decide(service, aid, {**OVERRIDE, "level": 3})
    assert same_level.status_code == 422


def test_a_decision_sent_again_with_seen_decision_id_is_recorded_once(service):
    service.create_family("F1")
    aid = service.assess("F1", who="inspector")["assessment_id"]
    body = {**OVERRIDE, "seen_decision_id": 0}
    first, again = _decide(service, aid, body), _decide(service, aid, body)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()  # the decision recorded first, nothing new
    decisions = service.client.get("/families/F1/decisions", headers=service.headers("admin"))
    assert len(decisions.json()) == 1
    report = service.client.get("/reports/overrides", headers=service.headers("admin")).json()
    assert report["overrides"] == 1
    # Without seen_decision_id (clients from before it) every post records, as it did.
    assert _decide(service, aid, OVERRIDE).json()["decision_id"] != first.json()["decision_id"]


def test_a_decision_recorded_since_the_sender_looked_is_refused_naming_it(service):
    service.create_family("F1")
    aid = service.assess("F1", who="inspector")["assessment_id"]
    first = _decide(service, aid, {**OVERRIDE, "seen_decision_id": 0}).json()
    other = {**OVERRIDE, "level": 3, "seen_decision_id": 0}  # looked before the first decision
    refused = _decide(service, aid, other)
    assert refused.status_code == 409 and refused.json()["refusal"] == "decided_meanwhile"
    assert f"decision {first['decision_id']}: override, level 2" in refused.json()["message"]
    seen = {**other, "seen_decision_id": first["decision_id"]}  # now seen: added knowingly
    assert _decide(service, aid, seen).status_code == 201


def test_an_update_that_changes_nothing_keeps_the_version_and_the_assessment(service):
    from tests.serving.helpers import criteria

    service.create_family("F1")
    first = service.assess("F1", who="inspector")
    same = {"settlement": "urban", "criteria": criteria()}  # what create_family stored
    kept = service.client.put("/families/F1", json=same, headers=service.headers("inspector"))
    assert kept.status_code == 200 and kept.json()["version"] == 1
    latest = service.client.get(
        "/families/F1/assessments/latest", headers=service.headers("commission")
    )
    assert latest.json()["assessment_id"] == first["assessment_id"]  # still current
    assert _decide(service, first["assessment_id"], OVERRIDE).status_code == 201
    changed = {"criteria": criteria(per_capita_income_kzt=31000.0)}
    moved = service.client.put("/families/F1", json=changed, headers=service.headers("inspector"))
    assert moved.json()["version"] == 2
