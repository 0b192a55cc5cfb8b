"""What an assessment rests on: a swapped fusion model or changed welfare rules make it stale."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.assessments import WELFARE_CONFIG_KEY, welfare_config_digest
from tests.serving.helpers import small_fusion_model

OVERRIDE = {"kind": "override", "level": 2, "reason_code": "income_evidence",
            "reason": "employer letter shows wage arrears"}  # fmt: skip


@pytest.fixture(scope="module")
def fusion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_fusion_model(tmp_path_factory.mktemp("fusion"))


def _latest(service, family="F1"):
    response = service.client.get(
        f"/families/{family}/assessments/latest", headers=service.headers("commission")
    )
    assert response.status_code == 200, response.text
    return response.json()


def _decide(service, assessment_id, body=OVERRIDE):
    return service.client.post(
        f"/assessments/{assessment_id}/decisions", json=body, headers=service.headers("commission")
    )


def test_unchanged_inputs_keep_the_assessment_current(service):
    service.create_family("F1")
    first = service.assess("F1", who="inspector")
    assert first["model_versions"][WELFARE_CONFIG_KEY] == welfare_config_digest()
    assert first["model_versions"]["fusion"] == "none"
    assert _latest(service)["assessment_id"] == first["assessment_id"]
    assert _decide(service, first["assessment_id"]).status_code == 201


@pytest.fixture(scope="module")
def other_fusion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_fusion_model(tmp_path_factory.mktemp("other_fusion"), seed=1)


def test_swapping_the_fusion_model_makes_the_assessment_stale(
    make_service, fusion_dir, other_fusion_dir
):
    from welfare.fusion import FusionModel

    service = make_service(fusion_dir=fusion_dir)
    loaded = service.services.fusion_model.meta.version
    service.create_family("F1")
    first = service.assess("F1", who="inspector")
    assert first["model_versions"]["fusion"] == loaded
    # As after a restart with another fusion_dir.
    service.services.fusion_model = FusionModel.load(other_fusion_dir)
    swapped = service.services.fusion_model.meta.version
    assert swapped != loaded

    other_level = {**OVERRIDE, "level": 1 if first["level"] != 1 else 2}
    refused = _decide(service, first["assessment_id"], other_level)
    assert refused.status_code == 409 and refused.json()["code"] == "conflict"
    assert refused.json()["refusal"] == "out_of_date"
    assert "another fusion model" in refused.json()["message"]
    latest = _latest(service)
    assert latest["version"] == 2 and latest["model_versions"]["fusion"] == swapped
    assert latest["stale_reason"] is None
    decision = {**OVERRIDE, "level": 1 if latest["level"] != 1 else 2}
    assert _decide(service, latest["assessment_id"], decision).status_code == 201


def test_losing_the_fusion_model_keeps_the_assessment_and_refuses_decisions(
    make_service, fusion_dir
):
    service = make_service(fusion_dir=fusion_dir)
    service.create_family("F1")
    first = service.assess("F1", who="inspector")
    service.services.fusion_model = None  # as after a restart that lost fusion_dir

    other_level = {**OVERRIDE, "level": 1 if first["level"] != 1 else 2}
    refused = _decide(service, first["assessment_id"], other_level)
    assert refused.status_code == 409 and refused.json()["code"] == "conflict"
    assert refused.json()["refusal"] == "fusion_model_missing"
    assert "until the service has its fusion model again" in refused.json()["message"]
    latest = _latest(service)
    assert latest["assessment_id"] == first["assessment_id"]  # not redone on the rules alone
    assert latest["stale_reason"] == "fusion_model_missing"


def test_changing_a_welfare_threshold_makes_the_assessment_stale(service, edit_config):
    service.create_family("F1")
    first = service.assess("F1", who="inspector")

    def raise_poverty_line(data):
        data["thresholds"]["poverty_line_kzt"] += 1000

    edit_config("welfare.yaml", raise_poverty_line)
    refused = _decide(service, first["assessment_id"])
    assert refused.status_code == 409 and refused.json()["code"] == "conflict"
    assert "configs/welfare.yaml changed" in refused.json()["message"]
    latest = _latest(service)
    assert latest["version"] == 2
    now, before = latest["model_versions"], first["model_versions"]
    assert now[WELFARE_CONFIG_KEY] == welfare_config_digest() != before[WELFARE_CONFIG_KEY]
    assert _decide(service, latest["assessment_id"]).status_code == 201


def test_an_assessment_without_the_digest_is_stale_once(service):
    from serving.db.models import Assessment
    from serving.db.session import session_scope

    service.create_family("F1")
    aid = service.assess("F1", who="inspector")["assessment_id"]
    with session_scope(service.services.sessions) as session:  # as stored before the digest
        row = session.get_one(Assessment, aid)
        row.model_versions = {"fusion": "none", "vision": row.model_versions["vision"]}
    assert _decide(service, aid).status_code == 409
    again = _latest(service)
    assert again["version"] == 2 and WELFARE_CONFIG_KEY in again["model_versions"]
    assert _latest(service)["assessment_id"] == again["assessment_id"]  # once, not every time


def test_an_assessment_of_older_logic_is_recomputed_once(service):
    """One stored before the reasons were measured on the probability (LOGIC_VERSION 2) shows
    contributions in another unit: it is stale, recomputed on the next read, and a decision on
    it is refused saying why."""
    from serving.assessments import LOGIC_KEY
    from serving.db.models import Assessment
    from serving.db.session import session_scope
    from welfare.assess import LOGIC_VERSION

    service.create_family("F1")
    first = service.assess("F1", who="inspector")
    assert first["model_versions"][LOGIC_KEY] == LOGIC_VERSION
    aid = first["assessment_id"]
    with session_scope(service.services.sessions) as session:  # as stored by the older code
        row = session.get_one(Assessment, aid)
        row.model_versions = {k: v for k, v in row.model_versions.items() if k != LOGIC_KEY}
    refused = _decide(service, aid)
    assert refused.status_code == 409 and "software update" in refused.json()["message"]
    again = _latest(service)
    assert again["version"] == 2 and again["model_versions"][LOGIC_KEY] == LOGIC_VERSION
    assert _latest(service)["assessment_id"] == again["assessment_id"]  # once, not every time
    assert _decide(service, again["assessment_id"]).status_code == 201


def test_decision_levels_come_from_the_welfare_config(service, edit_config):
    service.create_family("F1")
    aid = service.assess("F1", who="inspector")["assessment_id"]
    schema = service.client.get("/openapi.json").json()["components"]["schemas"]["DecisionIn"]
    integer = next(b for b in schema["properties"]["level"]["anyOf"] if b["type"] == "integer")
    assert (integer["minimum"], integer["maximum"]) == (1, 6)
    refused = _decide(service, aid, {**OVERRIDE, "level": 7})
    assert refused.status_code == 422 and "one of 1, 2, 3, 4, 5, 6" in refused.text

    def add_level_7(data):
        data["levels"].append({"value": 7, "name": "top", "description": "A seventh level."})

    edit_config("welfare.yaml", add_level_7)
    aid = _latest(service)["assessment_id"]  # the levels changed: a new assessment
    made = _decide(service, aid, {**OVERRIDE, "level": 7})
    assert made.status_code == 201, made.text
    assert made.json()["decided_level"] == 7
