"""Review of `assessments refresh` (serving.assessments_refresh, serving.reassessment): a
region's refresh is judged on its own families only (another region's assessments made with a
fusion model do not refuse it without one), two refresh runs of the same families at once make
one new version each, a record sent again unchanged makes nothing stale, and a family whose
photos are all unusable is refreshed once after a photo is added."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from serving import assessments_refresh
from serving.assessments_refresh import refresh
from serving.reassessment import FusionModelMissingError, find_stale
from tests.serving.helpers import OTHER_REGION, REGION, Service, jpeg, small_fusion_model
from tests.serving.refresh_scene import (
    assessment_versions,
    audit_entries,
    edit_record,
    raise_level6_min_vehicles,
    refresh_actor,
)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: nothing here differs on PostgreSQL (the lock is test_assessments_refresh's)."""
    return f"sqlite:///{tmp_path / 'web.db'}"


@pytest.fixture(scope="module")
def fusion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_fusion_model(tmp_path_factory.mktemp("fusion"))


def test_a_region_refresh_without_a_fusion_model_is_judged_on_that_region_only(
    make_service: Any, fusion_dir: Path
) -> None:
    """OTH (another region) rests on the fusion model; R1 (REGION) on the rules alone. With no
    fusion model a refresh of REGION goes ahead and leaves OTH alone; one of OTHER_REGION, or
    of every region, is refused and writes nothing."""
    service = make_service(fusion_dir=fusion_dir)
    service.create_family("OTH", region=OTHER_REGION)
    service.assess("OTH", who="admin_national")
    service.services.fusion_model = None  # the site took its fusion model away
    service.services.settings.allow_rules_only = True  # ... so R1 is assessed on the rules
    service.create_family("R1")
    service.assess("R1", who="inspector")
    service.services.settings.allow_rules_only = False
    edit_record(service, "R1")
    edit_record(service, "OTH", who="admin_national")
    actor = refresh_actor(service, "admin_national")

    for region in (OTHER_REGION, None):
        entries = len(audit_entries(service))
        with pytest.raises(FusionModelMissingError):
            refresh(service.services, actor=actor, region=region, progress=False)
        assert len(audit_entries(service)) == entries  # refused before its start entry

    report = refresh(service.services, actor=actor, region=REGION, progress=False)
    assert [(r.family_id, r.reason, r.version) for r in report.families] == [("R1", "record", 2)]
    assert assessment_versions(service) == {"OTH": [1], "R1": [1, 2]}
    assert [s.family_id for s in find_stale(service.services)] == ["OTH"]


def test_two_refresh_runs_at_once_make_one_new_version_per_family(
    service: Service, edit_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both runs have found the same stale families before either recomputes one: the second
    finds each already current by its turn and adds no version of its own."""
    families = ("A1", "A2", "A3")
    for family_id in families:
        service.create_family(family_id)
        service.assess(family_id, who="inspector")
    edit_config("welfare.yaml", raise_level6_min_vehicles)
    both_found = threading.Barrier(2, timeout=60)
    real_find = assessments_refresh.find_stale

    def find_then_wait(*args: Any, **kwargs: Any) -> Any:
        found = real_find(*args, **kwargs)
        both_found.wait()
        return found

    monkeypatch.setattr(assessments_refresh, "find_stale", find_then_wait)
    actor = refresh_actor(service, "admin_national")
    reports: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            reports.append(refresh(service.services, actor=actor, progress=False))
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in threads), errors
    assert assessment_versions(service) == {f: [1, 2] for f in families}
    assert sum(sum(r.refreshed.values()) for r in reports) == len(families)
    assert sum(r.already_current for r in reports) == len(families)
    assert all(not r.failed for r in reports)
    created = [e for e in audit_entries(service) if e.action == "assessment_created"]
    assert sum(e.details["version"] == 2 for e in created) == len(families)
    ends = [e for e in audit_entries(service) if e.action == "assessments_refreshed"]
    assert sorted(e.details["outcome"] for e in ends) == ["completed", "completed"]


def test_a_record_sent_again_unchanged_makes_nothing_to_refresh(service: Service) -> None:
    service.create_family("F1")
    service.assess("F1", who="inspector")
    edit_record(service, "F1")
    actor = refresh_actor(service, "admin_national")
    assert refresh(service.services, actor=actor, progress=False).refreshed == {"record": 1}
    edit_record(service, "F1")  # the same form sent again: the record is as it was
    assert find_stale(service.services) == []
    again = refresh(service.services, actor=actor, progress=False)
    assert again.families == [] and assessment_versions(service) == {"F1": [1, 2]}


def test_a_family_without_a_usable_photo_is_refreshed_once_after_a_photo_is_added(
    service: Service,
) -> None:
    """No photo model: every photo is stored unscored (present, unusable). A photo added after
    the assessment makes it stale; the refresh counts it, and a second run finds nothing."""
    service.create_family("F1")
    assert service.upload("F1", jpeg(71)).json()["score_status"] == "model_unavailable"
    first = service.client.post("/families/F1/assessments", headers=service.headers("inspector"))
    assert first.status_code == 201 and first.json()["result"]["photos"]["usable"] == 0
    assert service.upload("F1", jpeg(72)).status_code == 201
    actor = refresh_actor(service, "admin_national")
    report = refresh(service.services, actor=actor, progress=False)
    assert [(r.family_id, r.reason, r.version) for r in report.families] == [("F1", "photos", 2)]
    read = service.client.get(
        "/families/F1/assessments/latest", headers=service.headers("commission")
    )
    assert read.status_code == 200, read.text
    body = read.json()
    assert (body["version"], body["stale_reason"]) == (2, None)
    assert body["result"]["photos"] == {**body["result"]["photos"], "total": 2, "usable": 0}
    assert body["result"]["unscored_photos"] == 2
    assert refresh(service.services, actor=actor, progress=False).families == []
    assert assessment_versions(service) == {"F1": [1, 2]}
