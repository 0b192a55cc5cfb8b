"""The service without its fusion model (a restart that lost fusion_dir) keeps the assessments
made with one: a read serves them as they were, out of date (`fusion_model_missing`), and a
decision on them waits for the model, instead of a new rules-only version per family opened
(and a third one when the model is back). `allow_rules_only: true` recomputes them as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from serving.db.models import Assessment, AuditEntry, Decision
from serving.web.i18n import translator
from tests.serving.helpers import Service, criteria, small_fusion_model

FUSION_MODEL_MISSING = "fusion_model_missing"  # the stale reason and refusal, as the API says
OVERRIDE = {"kind": "override", "level": 2, "reason_code": "income_evidence",
            "reason": "employer letter shows wage arrears"}  # fmt: skip


@pytest.fixture(scope="module")
def fusion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_fusion_model(tmp_path_factory.mktemp("fusion"))


def _assessed(service: Service, family_id: str = "A") -> dict[str, Any]:
    service.create_family(family_id)
    made = service.client.post(
        f"/families/{family_id}/assessments", headers=service.headers("inspector")
    )
    assert made.status_code == 201, made.text
    return dict(made.json())


def _latest(service: Service, family_id: str = "A") -> dict[str, Any]:
    read = service.client.get(
        f"/families/{family_id}/assessments/latest", headers=service.headers("commission")
    )
    assert read.status_code == 200, read.text
    return dict(read.json())


def _stored(service: Service) -> tuple[list[tuple[str, int, str]], int, int]:
    """Every assessment (family, version, fusion model), the assessments audited, decisions."""
    with service.services.sessions() as session:
        rows = session.execute(
            select(Assessment).order_by(Assessment.family_id, Assessment.version)
        ).scalars()
        made = [(r.family_id, r.version, r.model_versions["fusion"]) for r in rows]
        audited = session.scalar(
            select(func.count()).where(AuditEntry.action == "assessment_created")
        )
        decided = session.scalar(select(func.count()).select_from(Decision))
        return made, audited or 0, decided or 0


def _restart_without_fusion(service: Service) -> Any:
    """As a restart that lost SHANYRAQ_SERVING__FUSION_DIR; the model it had, to put back."""
    model = service.services.fusion_model
    service.services.fusion_model = None
    return model


@pytest.fixture
def model_lost(make_service: Any, fusion_dir: Path) -> tuple[Service, dict[str, Any], Any]:
    """Family A assessed with the fusion model, then the service restarted without it:
    (the service, that assessment, the model to put back)."""
    service = make_service(fusion_dir=fusion_dir)
    first = _assessed(service)
    assert first["model_versions"]["fusion"] != "none" and first.get("stale_reason") is None
    return service, first, _restart_without_fusion(service)


def test_a_read_without_the_fusion_model_keeps_the_assessment_and_says_why(
    model_lost: tuple[Service, dict[str, Any], Any],
) -> None:
    service, first, model = model_lost
    used = first["model_versions"]["fusion"]
    other = {**OVERRIDE, "level": 1 if first["level"] != 1 else 2}  # decidable once current
    before = _stored(service)

    for _ in range(2):  # every read: the same version, never a rules-only one
        kept = _latest(service)
        assert kept["assessment_id"] == first["assessment_id"] and kept["version"] == 1
        assert kept["level"] == first["level"] and kept["model_versions"]["fusion"] == used
        assert kept["stale_reason"] == FUSION_MODEL_MISSING
    one = service.client.get(
        f"/assessments/{first['assessment_id']}", headers=service.headers("commission")
    ).json()
    listed = service.client.get("/families/A/assessments", headers=service.headers("admin"))
    assert one["stale_reason"] == FUSION_MODEL_MISSING
    assert [a["stale_reason"] for a in listed.json()] == [FUSION_MODEL_MISSING]

    page = service.client.get("/ui/families/A", headers=service.headers("commission"))
    assert page.status_code == 200
    t = translator("en")
    assert t("family.out_of_date", why=t.label("stale_reason", FUSION_MODEL_MISSING)) in page.text
    assert t("family.kept_without_fusion_model") in page.text
    assert t("decision.waits_while_out_of_date") in page.text
    assert 'id="decision-form"' not in page.text  # no form for a decision that must wait
    assert t("family.assessment", n=1) in page.text

    refused = service.client.post(
        f"/assessments/{first['assessment_id']}/decisions", json=other,
        headers=service.headers("commission"),
    )  # fmt: skip
    assert refused.status_code == 409, refused.text
    assert refused.json()["refusal"] == FUSION_MODEL_MISSING
    assert "no fusion model" in refused.json()["message"]
    assert _stored(service) == before  # no new version, no new audit entry, no decision

    service.services.fusion_model = model  # the model is back: the same one, current again
    back = _latest(service)
    assert back["assessment_id"] == first["assessment_id"] and back["stale_reason"] is None
    page = service.client.get("/ui/families/A", headers=service.headers("commission"))
    assert 'id="decision-form"' in page.text and 'id="stale-note"' not in page.text
    decided = service.client.post(
        f"/assessments/{first['assessment_id']}/decisions", json=other,
        headers=service.headers("commission"),
    )  # fmt: skip
    assert decided.status_code == 201, decided.text
    assert _stored(service)[0] == [("A", 1, used)]


def test_a_kept_assessment_whose_record_changed_is_recomputed_once_the_model_is_back(
    model_lost: tuple[Service, dict[str, Any], Any],
) -> None:
    service, first, model = model_lost
    used = first["model_versions"]["fusion"]
    body = {"criteria": criteria(per_capita_income_kzt=31000.0)}
    edited = service.client.put("/families/A", json=body, headers=service.headers("inspector"))
    assert edited.status_code == 200, edited.text
    kept = _latest(service)  # stale for its record too, but still not redone on the rules alone
    assert kept["version"] == 1 and kept["stale_reason"] == FUSION_MODEL_MISSING
    service.services.fusion_model = model
    redone = _latest(service)
    assert redone["version"] == 2 and redone["stale_reason"] is None
    assert redone["model_versions"]["fusion"] == used and redone["family_version"] == 2
    assert _latest(service)["version"] == 2
    assert _stored(service)[0] == [("A", 1, used), ("A", 2, used)]


def test_with_allow_rules_only_a_read_recomputes_on_the_rules_alone(
    make_service: Any, fusion_dir: Path
) -> None:
    service = make_service(fusion_dir=fusion_dir, allow_rules_only=True)
    first = _assessed(service)
    _restart_without_fusion(service)
    latest = _latest(service)
    assert latest["version"] == 2 and latest["model_versions"]["fusion"] == "none"
    assert latest["level"] is None and latest["asp"] == "needs_review"
    assert latest["stale_reason"] is None
    assert _latest(service)["assessment_id"] == latest["assessment_id"]  # once
    old = service.client.get(
        f"/assessments/{first['assessment_id']}", headers=service.headers("commission")
    )
    assert old.json()["stale_reason"] == "newer_assessment"


def test_families_never_assessed_or_assessed_on_the_rules_alone_are_computed_as_before(
    make_service: Any,
) -> None:
    service = make_service()  # no fusion model, allow_rules_only left false
    assert service.services.settings.allow_rules_only is False
    service.create_family("NEW")
    made = _latest(service, "NEW")  # nothing to keep: assessed on the rules alone
    assert made["version"] == 1 and made.get("stale_reason") is None
    body = {"criteria": criteria(per_capita_income_kzt=31000.0)}
    edited = service.client.put("/families/NEW", json=body, headers=service.headers("inspector"))
    assert edited.status_code == 200, edited.text
    again = _latest(service, "NEW")
    assert again["version"] == 2 and again["model_versions"]["fusion"] == "none"
    assert again.get("stale_reason") is None
