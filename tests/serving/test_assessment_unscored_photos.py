"""A photo stored without a score is in the family's assessment, present but unusable.

Two paths leave a stored photo without a score: an upload while the service has no photo model
(model_dir empty), and a re-scoring that could not score it (its original lost from the store)
followed by `rescore promote`, which keeps its old score: none. Such a photo was once left out
of the assessment, so a family with one scored photo and others unscored or reused from
another family was recommended with confidence, on fewer photos than it has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.assessments import UNSCORED
from tests.serving.helpers import (
    Service,
    criteria,
    family_body,
    jpeg,
    small_fusion_model,
)

# A complete record of a family of four under the poverty line, with nothing that puts it in
# doubt: on its record and one usable photo it is recommended eligible with confidence.
POOR_FAMILY = criteria(
    per_capita_income_kzt=20000.0, dwellings_owned=1.0, dwelling_area_per_person_m2=12.0,
    housing_tenure="owned", vehicles_owned=0.0, has_legal_entity=0.0, bank_deposits_kzt=0.0,
    credit_burden_ratio=0.1, members_with_disability=0.0, members_chronically_ill=0.0,
    head_education_level=1.0, children_out_of_school=0.0, members_insured_share=1.0,
    members_total=4.0, members_working=1.0, children_under_18=2.0, pensioners=0.0,
    unemployed_able_bodied=1.0, members_in_training=0.0, registered_job_seekers=1.0,
    informal_employment_signs=0.0, foreign_trips_12m=0.0, large_purchases_12m_kzt=0.0,
)  # fmt: skip


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(photo model, fusion model). The photo model's room head says kitchen whatever the
    pixels, so the photos it scores are usable ones."""
    from shanyraq.taxonomy import get_taxonomy
    from tests.vision.engine_fixtures import make_artifact

    root = tmp_path_factory.mktemp("models")
    photo = make_artifact(root / "photo", get_taxonomy(), seed=5, room_bias={"kitchen": 8.0})
    return photo, small_fusion_model(root / "fusion")


@pytest.fixture
def no_condition_abstain(edit_config: Any) -> Iterator[None]:
    """The site turns the condition-confidence abstain off (configs/engine.yaml allows 0): the
    tiny photo model's condition head is flat, and would make every photo abstain."""
    from vision.engine import get_engine_config

    edit_config("engine.yaml", lambda d: d["abstain"].update(min_condition_probability=0.0))
    get_engine_config.cache_clear()
    yield
    get_engine_config.cache_clear()


def _create(service: Service, *family_ids: str) -> None:
    for family_id in family_ids:
        body = {**family_body(family_id), "criteria": POOR_FAMILY}
        response = service.client.post("/families", json=body, headers=service.headers("inspector"))
        assert response.status_code == 201, response.text


def _upload(service: Service, family_id: str, photo: bytes, scored: bool) -> dict[str, Any]:
    response = service.upload(family_id, photo)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["quality"]["status"] == "pass"
    assert body["score_status"] == ("scored" if scored else "model_unavailable")
    if scored:
        assert body["score"]["abstain"] is False, body["score"]
    return dict(body)


def _doubts(assessment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["code"]: d["params"] for d in assessment["result"]["review_statements"]}


def _without_then_with_the_photo_model(
    make_service: Any, restart: Callable[..., Service], models: tuple[Path, Path]
) -> tuple[Service, Callable[[], Service]]:
    """The service with the fusion model and no photo model (uploads are stored, not
    scored), and how to start it again with the photo model."""
    photo, fusion = models
    bare = make_service(fusion_dir=fusion)
    assert bare.services.pipeline.engine is None
    return bare, lambda: restart(bare, fusion_dir=fusion, model_dir=photo)


@pytest.mark.usefixtures("no_condition_abstain")
def test_unscored_photos_count_against_the_usable_share(make_service, restart, models):
    bare, with_model = _without_then_with_the_photo_model(make_service, restart, models)
    _create(bare, "F0", "F1")
    _upload(bare, "F1", jpeg(1), scored=False)
    _upload(bare, "F1", jpeg(2), scored=False)
    service = with_model()
    _upload(service, "F0", jpeg(3), scored=True)
    _upload(service, "F1", jpeg(4), scored=True)

    alone = service.assess("F0")  # the same record with its one scored photo: no doubt
    assert alone["asp"] == "eligible", alone["result"]["review_statements"]
    made = service.assess("F1")
    assert made["asp"] == "needs_review"
    assert _doubts(made)["doubt.flagged_photos"] == {"flagged": 2, "total": 3}
    result = made["result"]
    assert len(made["photo_ids"]) == 3
    assert result["photos"]["total"] == 3 and result["photos"]["usable"] == 1
    assert result["photos"]["abstained"] == 2 and result["unscored_photos"] == 2
    assert made["model_versions"]["vision"].split(",") == sorted(["test-5", UNSCORED])
    # What it rests on is what `latest` finds: read again, it is current, not recomputed.
    latest = service.client.get(
        "/families/F1/assessments/latest", headers=service.headers("commission")
    ).json()
    assert latest["assessment_id"] == made["assessment_id"] and latest["stale_reason"] is None


@pytest.mark.usefixtures("no_condition_abstain")
def test_a_reused_unscored_photo_keeps_its_reuse_flag(make_service, restart, models):
    bare, with_model = _without_then_with_the_photo_model(make_service, restart, models)
    _create(bare, "F1", "F2")
    _upload(bare, "F1", jpeg(7), scored=False)
    copied = _upload(bare, "F2", jpeg(7), scored=False)  # F1's photo, filed for F2
    assert copied["reuse"]["reused"] is True
    service = with_model()
    _upload(service, "F2", jpeg(8), scored=True)

    made = service.assess("F2")
    assert made["asp"] == "needs_review"
    assert _doubts(made)["doubt.reused_photos"] == {"reused": 1}
    result = made["result"]
    assert result["photos"]["reused"] == 1 and result["photos"]["usable"] == 1
    assert result["unscored_photos"] == 1


def test_only_unscored_photos_are_too_few_usable_ones_and_reused_is_said(make_service):
    """No photo model at all (the tests' default service): the family's photos are all there,
    none usable, and the one filed for another family is called reused."""
    service = make_service()
    _create(service, "F1", "F2")
    _upload(service, "F1", jpeg(9), scored=False)
    _upload(service, "F2", jpeg(9), scored=False)
    _upload(service, "F2", jpeg(10), scored=False)
    made = service.assess("F2")
    doubts = _doubts(made)
    assert doubts["doubt.reused_photos"] == {"reused": 1}
    assert doubts["doubt.flagged_photos"] == {"flagged": 2, "total": 2}
    assert doubts["doubt.too_few_photos"]["usable"] == 0
    assert made["result"]["photos"]["total"] == 2 and made["result"]["unscored_photos"] == 2
    assert made["model_versions"]["vision"] == UNSCORED


@pytest.mark.usefixtures("no_condition_abstain")
def test_a_photo_the_promoted_rescoring_could_not_score_stays_in(
    make_service, restart, models, tmp_path
):
    """Uploaded unscored; its original is lost from the store, so the re-scoring records a
    failure and `rescore promote` leaves it without a score; the others are scored."""
    from serving.promote import promote
    from serving.rescore import MISSING_FILE, rescore
    from vision.bulk import open_scorer

    photo, _ = models
    bare, with_model = _without_then_with_the_photo_model(make_service, restart, models)
    _create(bare, "F1")
    uploaded = [_upload(bare, "F1", jpeg(20 + k), scored=False) for k in range(3)]
    services = bare.services
    for lost in uploaded[:2]:
        services.store.path_for(lost["sha256"]).unlink()
    scorer = open_scorer(photo, prefer="cpu", max_pixels=50_000_000, decode_short_side=1024)
    report = rescore(services.db_engine, services.store, scorer, progress=False)
    assert report.complete and (report.scored, report.failed) == (1, 2)
    promoted = promote(
        services.sessions, services.signing_key, model_dir=photo, serving_model_dir=photo,
        actor="admin_national",
    )  # fmt: skip
    assert set(promoted.plan.kept_old.values()) == {MISSING_FILE}

    made = with_model().assess("F1")
    assert made["asp"] == "needs_review"
    assert _doubts(made)["doubt.flagged_photos"] == {"flagged": 2, "total": 3}
    assert len(made["photo_ids"]) == 3 and made["result"]["unscored_photos"] == 2
    assert made["result"]["photos"]["usable"] == 1


def test_an_assessment_that_left_unscored_photos_out_is_stale_once(service):
    """One made before unscored photos counted recorded only the scored photos' models
    (here none: "none"); it is redone on the next read, and a decision on it is refused."""
    from serving.db.models import Assessment
    from serving.db.session import session_scope

    _create(service, "F1")
    _upload(service, "F1", jpeg(40), scored=False)
    first = service.assess("F1")
    with session_scope(service.services.sessions) as session:  # as the old code recorded it
        row = session.get_one(Assessment, first["assessment_id"])
        row.model_versions = {**row.model_versions, "vision": "none"}
    refused = service.client.post(
        f"/assessments/{first['assessment_id']}/decisions",
        json={
            "kind": "override",
            "level": 2,
            "reason_code": "income_evidence",
            "reason": "employer letter shows wage arrears",
        },
        headers=service.headers("commission"),
    )
    assert refused.status_code == 409 and refused.json()["refusal"] == "out_of_date"
    assert "another photo model" in refused.json()["message"]  # STALE_REASONS["photo_scores"]
    read = service.client.get(
        "/families/F1/assessments/latest", headers=service.headers("commission")
    )
    again = read.json()
    assert again["version"] == 2 and again["model_versions"]["vision"] == UNSCORED
    assert again["result"]["unscored_photos"] == 1 and again["stale_reason"] is None
