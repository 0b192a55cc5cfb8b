"""Review of how assessments are kept current: a promotion that changes a photo's score while
the family's set of photo models stays the same still makes its assessment stale, and a family
whose record no longer validates does not stop `assessments refresh` for every family after it
(nor leave the run without saying which family failed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from serving.db.models import Assessment, AuditEntry
from serving.db.session import session_scope
from tests.serving.helpers import Service, jpeg, serving_yaml
from tests.serving.refresh_scene import assessment_versions, one_record_unreadable

OVERRIDE = {
    "kind": "override", "level": 2, "reason_code": "income_evidence",
    "reason": "employer letter shows wage arrears",
}  # fmt: skip


@pytest.fixture(scope="module")
def photo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from shanyraq.taxonomy import get_taxonomy
    from tests.vision.engine_fixtures import make_artifact

    return make_artifact(tmp_path_factory.mktemp("photo"), get_taxonomy(), seed=5)


def _latest(service: Service, family_id: str) -> dict[str, Any]:
    read = service.client.get(
        f"/families/{family_id}/assessments/latest", headers=service.headers("commission")
    )
    assert read.status_code == 200, read.text
    return dict(read.json())


# --- a promotion inside one family's photo models ----------------------------------------------


def test_a_promotion_that_keeps_the_familys_photo_models_still_makes_it_stale(
    make_service, restart, photo_model
):
    """Two photos uploaded without a photo model, a third scored by M at upload: the assessment
    rests on "M,unscored". One unscored photo's original is lost, so `rescore promote` gives M's
    score to the other only: the family is still on "M,unscored", but a photo it counted as
    unscored now has a score. The assessment must be stale (reads recompute it, a decision on it
    is refused, `--reassess` and `refresh` find it)."""
    from serving import reassessment
    from serving.promote import promote
    from serving.rescore import rescore
    from vision.bulk import open_scorer

    bare = make_service()
    bare.create_family("F1")
    unscored = [bare.upload("F1", jpeg(60 + k)).json() for k in range(2)]
    assert all(p["score_status"] == "model_unavailable" for p in unscored)
    service = restart(bare, model_dir=photo_model)
    assert service.upload("F1", jpeg(62)).json()["score_status"] == "scored"
    first = service.assess("F1", who="inspector")
    assert first["result"]["unscored_photos"] == 2
    services = service.services
    services.store.path_for(unscored[1]["sha256"]).unlink()  # the store lost this original
    scorer = open_scorer(photo_model, prefer="cpu", max_pixels=50_000_000, decode_short_side=1024)
    assert rescore(services.db_engine, services.store, scorer, progress=False).complete
    promote(
        services.sessions, services.signing_key, model_dir=photo_model,
        serving_model_dir=photo_model, actor="admin_national",
    )  # fmt: skip

    with services.sessions() as session:
        assert reassessment.stale_families(session, scorer.model_version) == ["F1"]
    assert [(s.family_id, s.reason) for s in reassessment.find_stale(services)] == [
        ("F1", "photo_scores")
    ]
    refused = service.client.post(
        f"/assessments/{first['assessment_id']}/decisions", json=OVERRIDE,
        headers=service.headers("commission"),
    )  # fmt: skip
    assert refused.status_code == 409 and refused.json()["refusal"] == "out_of_date"
    again = _latest(service, "F1")
    assert again["version"] == 2 and again["stale_reason"] is None
    assert again["result"]["unscored_photos"] == 1
    assert again["model_versions"]["vision"] == first["model_versions"]["vision"]


def test_an_assessment_without_per_photo_models_is_judged_on_its_photo_model_set(service):
    """Assessments made before per-photo models were recorded are not all redone at once: they
    are judged as before, on the set of photo models."""
    from serving.assessments import PHOTO_SCORES_KEY

    service.create_family("F1")
    made = service.assess("F1", who="inspector")
    assert PHOTO_SCORES_KEY in made["model_versions"]
    with session_scope(service.services.sessions) as session:
        row = session.get_one(Assessment, made["assessment_id"])
        row.model_versions = {k: v for k, v in row.model_versions.items() if k != PHOTO_SCORES_KEY}
    read = _latest(service, "F1")
    assert read["version"] == 1 and read["stale_reason"] is None


# --- a family that fails in a refresh ----------------------------------------------------------


def test_a_family_that_fails_is_named_and_the_others_are_still_refreshed(service, edit_config):
    from serving.assessments_refresh import refresh
    from serving.reassessment import resolve_refresh_actor

    one_record_unreadable(service, edit_config)
    with service.services.sessions() as session:
        actor = resolve_refresh_actor(session, "admin_national", region=None)
    report = refresh(service.services, actor=actor, progress=False)
    assert assessment_versions(service) == {"A1": [1, 2], "BAD": [1], "C1": [1, 2], "D1": [1, 2]}
    assert report.failed == {"BAD": "family_record_invalid"}
    assert report.refreshed == {"welfare_config": 3} and report.already_current == 0
    with service.services.sessions() as session:
        end = session.execute(
            select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)
        ).scalar_one()
    assert end.action == "assessments_refreshed"
    assert end.details["outcome"] == "completed_with_failures"
    assert end.details["failed"] == {"BAD": "family_record_invalid"}
    assert end.details["refreshed"] == {"welfare_config": 3} and end.details["not_reached"] == 0


def test_the_command_names_the_family_that_failed_and_fails(
    service, edit_config, tmp_path, database_url
):
    from serving.assessments_refresh import RefreshFamiliesFailedError
    from shanyraq.cli import build_app

    one_record_unreadable(service, edit_config)
    config = serving_yaml(tmp_path / "cli.yaml", tmp_path, database_url, fusion_dir="")
    run = CliRunner().invoke(
        build_app(), ["assessments", "refresh", "--as", "admin_national", "--config", str(config)]
    )
    assert isinstance(run.exception, RefreshFamiliesFailedError), run.output
    assert run.exit_code != 0 and run.exception.code == "refresh_families_failed"
    assert "BAD (family_record_invalid)" in run.exception.message
    # The command it names runs as written: with the --as (and --config) this run had.
    again = f"`shanyraq assessments refresh --as admin_national --config {config}` again"
    assert again in run.exception.message
    assert "refreshed 3 of 4 stale assessment(s) in every region" in run.output
    assert "[family_record_invalid] 1: family BAD: members_total cannot be" in run.output
    assert "(families: BAD)" in run.output
    assert assessment_versions(service) == {"A1": [1, 2], "BAD": [1], "C1": [1, 2], "D1": [1, 2]}


def test_a_run_stopped_by_an_unexpected_error_names_the_family_it_was_on(
    service, edit_config, monkeypatch
):
    from serving import assessments_refresh, reassessment

    one_record_unreadable(service, edit_config)
    real = assessments_refresh.recompute

    def recompute_or_break(services: Any, family_id: str, **kwargs: Any) -> int | None:
        if family_id == "C1":
            raise RuntimeError("the database went away")
        return real(services, family_id, **kwargs)

    monkeypatch.setattr(assessments_refresh, "recompute", recompute_or_break)
    with service.services.sessions() as session:
        actor = reassessment.resolve_refresh_actor(session, "admin_national", region=None)
    with pytest.raises(RuntimeError):
        assessments_refresh.refresh(service.services, actor=actor, progress=False)
    with service.services.sessions() as session:
        end = session.execute(
            select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)
        ).scalar_one()
    assert (end.details["outcome"], end.details["family_id"]) == ("failed", "C1")
    assert end.details["failed"] == {"BAD": "family_record_invalid"}
    assert end.details["not_reached"] == 2  # C1 and D1
