"""`shanyraq assessments refresh`, the library: every assessment made stale, whatever made it
so, recomputed once; current ones left alone; a region limit; admins only (a regional one in its
region); the run audited on an intact chain, also one that fails midway; and no second new
version when a page view recomputes the same family at the same moment. The command line is in
test_assessments_refresh_cli.py."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from serving import assessments, assessments_refresh, audit, latest_assessments, latest_current
from serving.assessment_repeats import FlagsMemo
from serving.assessments import fusion_version, welfare_config_digest
from serving.assessments_refresh import refresh
from serving.db.models import Assessment, AuditEntry, Family, User
from serving.db.session import session_scope
from serving.outcome_basis import taxonomy_config_digest
from serving.reassessment import (
    ReassessActorError,
    RefreshRegionForbiddenError,
    RefreshRegionUnknownError,
    find_stale,
    recompute,
    resolve_refresh_actor,
    stale_assessments,
)
from tests.serving.helpers import OTHER_REGION, REGION, Service
from tests.serving.refresh_scene import (
    ASSESSED,
    STALE,
    all_current,
    assessment_versions,
    audit_entries,
    raise_level6_min_vehicles,
    refresh_actor,
)
from welfare.assess import LOGIC_VERSION

# The scene's families, on the service with its fusion models: `scene` and `new_fusion_dir`
# (tests/serving/refresh_scene.py), registered in tests/conftest.py.


# --- the library ------------------------------------------------------------------------------


def test_each_stale_family_is_refreshed_once_and_current_ones_are_left_alone(scene):
    services = scene.services
    found = find_stale(services)
    assert [(s.family_id, s.reason, s.version) for s in found] == [
        (family_id, why, 1) for family_id, why in sorted(STALE.items())
    ]
    with services.readers() as session:  # read two families at a time: the same answer
        fusion = fusion_version(services)
        assert stale_assessments(session, fusion=fusion, batch_size=2) == found
    assert not all_current(scene)
    seen = len(audit_entries(scene))
    actor = refresh_actor(scene, "admin_national")

    report = refresh(services, actor=actor, progress=False)
    assert [(r.family_id, r.reason, r.version) for r in report.families] == [
        (family_id, why, 2) for family_id, why in sorted(STALE.items())
    ]
    assert report.refreshed == {"record": 2, "photos": 1, "fusion_model": 1, "welfare_config": 1}
    assert report.already_current == 0
    assert assessment_versions(scene) == {f: [1, 2] for f in STALE} | {
        "CUR": [1]
    }  # NEW: never assessed
    assert all_current(scene)

    entries = audit_entries(scene)[seen:]
    assert [e.action for e in entries] == (
        ["assessments_refresh_started"] + ["assessment_created"] * 5 + ["assessments_refreshed"]
    )
    with services.sessions() as session:
        made = session.execute(select(Assessment).where(Assessment.version == 2)).scalars().all()
        creators = {session.get_one(User, row.created_by).username for row in made}
        assert audit.verify(session, services.signing_key).ok  # with the anchor file
    assert creators == {"admin_national"}
    # Audited exactly as compute audits a new version: one entry per new assessment.
    assert sorted(e.target for e in entries[1:-1]) == sorted(f"assessment:{a.id}" for a in made)
    assert all(e.actor == "admin_national" for e in entries)
    start, run = entries[0], entries[-1]
    assert (start.target, start.details["region"], start.details["planned"]) == (
        "region:all", None, 5
    )  # fmt: skip
    assert start.details["stale"] == report.found
    assert start.details["model_versions"] == {
        "fusion": fusion_version(services), "welfare_config": welfare_config_digest(),
        "taxonomy_config": taxonomy_config_digest(), "assessment_logic": LOGIC_VERSION,
    }  # fmt: skip
    assert (run.target, run.details["region"]) == ("region:all", None)
    assert (run.details["started_seq"], run.details["outcome"]) == (start.seq, "completed")
    assert run.details["stale"] == run.details["refreshed"] == report.refreshed
    assert run.details["already_current"] == run.details["not_reached"] == 0

    again = refresh(services, actor=actor, progress=False)
    assert again.families == [] and again.refreshed == {}
    assert assessment_versions(scene) == {f: [1, 2] for f in STALE} | {"CUR": [1]}


class Broke(Exception):
    pass


def _failing_third(monkeypatch: pytest.MonkeyPatch, error: type[BaseException]) -> None:
    """The run's third family fails with `error`, after two were refreshed."""
    real, calls = assessments_refresh.recompute, []

    def recompute_or_fail(services: Any, family_id: str, **kwargs: Any) -> int | None:
        calls.append(family_id)
        if len(calls) == 3:
            raise error("the third family failed")
        return real(services, family_id, **kwargs)

    monkeypatch.setattr(assessments_refresh, "recompute", recompute_or_fail)


def _runs(service: Service) -> list[tuple[AuditEntry, AuditEntry | None]]:
    """Each refresh run in the audit: its start entry and its end entry (None: never ended)."""
    entries = audit_entries(service)
    ends = {e.details["started_seq"]: e for e in entries if e.action == "assessments_refreshed"}
    starts = [e for e in entries if e.action == "assessments_refresh_started"]
    return [(start, ends.get(start.seq)) for start in starts]


@pytest.mark.parametrize(
    ("error", "outcome"), [(Broke, "failed"), (KeyboardInterrupt, "interrupted")]
)
def test_a_run_that_fails_midway_is_audited_as_started_and_how_it_ended(
    scene, monkeypatch, error, outcome
):
    services = scene.services
    actor = refresh_actor(scene, "admin_national")
    _failing_third(monkeypatch, error)
    with pytest.raises(error, match="the third family failed"):
        refresh(services, actor=actor, progress=False)
    [(start, end)] = _runs(scene)
    assert (start.actor, start.details["planned"]) == ("admin_national", 5)
    assert end is not None and (end.details["outcome"], end.details["error"]) == (
        outcome, error.__name__
    )  # fmt: skip
    assert sum(end.details["refreshed"].values()) == 2 and end.details["not_reached"] == 3
    between = [e.action for e in audit_entries(scene) if start.seq < e.seq < end.seq]
    assert between == ["assessment_created"] * 2
    with services.sessions() as session:
        assert audit.verify(session, services.signing_key).ok
    monkeypatch.undo()
    assert len(refresh(services, actor=actor, progress=False).families) == 3  # the rest


def test_a_run_whose_end_cannot_be_audited_stays_started_not_finished(scene, monkeypatch):
    # As when the process is killed, or the database it failed on refuses the end entry too:
    # the run's own error is raised, and its start entry has no end.
    services = scene.services
    _failing_third(monkeypatch, Broke)
    real_append = audit.append

    def append_but_no_end(session: Any, key: bytes, **kwargs: Any) -> AuditEntry:
        if kwargs["action"] == "assessments_refreshed":
            raise OperationalError("INSERT", {}, Exception("the database went away"))
        return real_append(session, key, **kwargs)

    monkeypatch.setattr(audit, "append", append_but_no_end)
    with pytest.raises(Broke):
        refresh(services, actor=refresh_actor(scene, "admin_national"), progress=False)
    [(start, end)] = _runs(scene)
    assert end is None and start.details["planned"] == 5
    assert [e.action for e in audit_entries(scene) if e.seq > start.seq] == [
        "assessment_created"
    ] * 2
    with services.sessions() as session:
        assert audit.verify(session, services.signing_key).ok


def test_region_limit_refreshes_that_region_only(scene):
    services = scene.services
    report = refresh(services, actor=refresh_actor(scene, "admin_national"), region=OTHER_REGION)
    assert [(r.family_id, r.version) for r in report.families] == [("OTH", 2)]
    assert assessment_versions(scene)["OTH"] == [1, 2]
    assert [s.family_id for s in find_stale(services, region=REGION)] == sorted(
        set(STALE) - {"OTH"}
    )
    assert find_stale(services, region=OTHER_REGION) == []
    run = audit_entries(scene)[-1]
    assert (run.action, run.target, run.details["region"]) == (
        "assessments_refreshed", f"region:{OTHER_REGION}", OTHER_REGION
    )  # fmt: skip


def test_only_the_decisive_welfare_config_makes_assessments_stale(scene, edit_config):
    services = scene.services
    refresh(services, actor=refresh_actor(scene, "admin_national"), progress=False)

    def other_fairness_group(data: dict[str, Any]) -> None:
        data["fairness"]["min_families_per_group"] += 1

    edit_config("welfare.yaml", other_fairness_group)
    assert find_stale(services) == []
    edit_config("welfare.yaml", raise_level6_min_vehicles)
    assert [(s.family_id, s.reason) for s in find_stale(services)] == [
        (family_id, "welfare_config") for family_id in ASSESSED
    ]


def test_refresh_is_for_active_admins_and_regional_ones_in_their_region(scene):
    with scene.services.sessions() as session:
        for username in ("commission", "inspector", "nobody"):
            with pytest.raises(ReassessActorError, match="not an active admin") as refused:
                resolve_refresh_actor(session, username, region=REGION)
            assert refused.value.code == "reassess_actor_invalid"
        for region in (OTHER_REGION, None):
            with pytest.raises(RefreshRegionForbiddenError, match=f"--region {REGION}") as outside:
                resolve_refresh_actor(session, "admin", region=region)
            assert outside.value.code == "refresh_region_forbidden"
        with pytest.raises(RefreshRegionUnknownError, match="choose one of") as unknown:
            resolve_refresh_actor(session, "admin_national", region="atlantis")
        assert unknown.value.code == "refresh_region_unknown"
        own = resolve_refresh_actor(session, "admin", region=REGION)
        assert own[1] == "admin"
        assert resolve_refresh_actor(session, "admin_national", region=None)[1] == "admin_national"


# --- a refresh and a page view of the same stale family at the same moment --------------------


@pytest.mark.parametrize("first", ["page_view", "refresh"])
def test_refresh_and_a_page_view_at_once_make_one_new_version(scene, monkeypatch, first):
    """`first` computes the new version and waits, holding the family's lock, until the other
    has reached the lock; neither may then add a version of its own."""
    services = scene.services
    actor = refresh_actor(scene, "admin_national")
    for family_id in ("CFG", "FUS", "PHO"):  # REC is then the one stale family of REGION
        assert recompute(services, family_id, actor=actor) == 2
    assert recompute(services, "CUR", actor=actor) is None  # current: left alone
    computed, arrived, release = threading.Event(), threading.Event(), threading.Event()
    real_compute, real_lock = assessments.compute, latest_assessments.lock_family

    def held_compute(*args: Any, **kwargs: Any) -> Assessment:
        row = real_compute(*args, **kwargs)
        if threading.current_thread().name == first:
            computed.set()
            assert release.wait(timeout=60), "the first one was never released"
        return row

    def arriving_lock(session: Any, family_id: str) -> Any:
        if threading.current_thread().name != first:
            arrived.set()  # then waits on the lock (PostgreSQL) or the write connection (SQLite)
        return real_lock(session, family_id)

    real_find = assessments_refresh.find_stale

    def found_then_arriving(*args: Any, **kwargs: Any) -> Any:
        found = real_find(*args, **kwargs)
        if threading.current_thread().name != first:
            arrived.set()  # the run's start entry then waits for the page view's transaction
        return found

    monkeypatch.setattr(assessments, "compute", held_compute)
    monkeypatch.setattr(latest_current, "lock_family", arriving_lock)
    monkeypatch.setattr(assessments_refresh, "find_stale", found_then_arriving)
    results: dict[str, Any] = {}

    def page_view() -> None:
        if first != "page_view":
            arrived.set()  # on SQLite it queues for the write connection before any lock
        with session_scope(services.sessions) as session:
            family = session.get_one(Family, "REC")
            checked = latest_current.checked_latest(
                session, services, family, actor=actor, flags=FlagsMemo()
            )
            results["page_view"] = checked.assessment.version

    def run_refresh() -> None:
        results["refresh"] = refresh(services, actor=actor, region=REGION, progress=False)

    threads = {
        "page_view": threading.Thread(target=page_view, name="page_view"),
        "refresh": threading.Thread(target=run_refresh, name="refresh"),
    }
    second = "refresh" if first == "page_view" else "page_view"
    threads[first].start()
    try:
        assert computed.wait(timeout=60), f"{first} never computed"
        threads[second].start()
        assert arrived.wait(timeout=60), f"{second} never reached the family"
    finally:
        release.set()
        for thread in threads.values():
            thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads.values())
    assert assessment_versions(scene)["REC"] == [1, 2]  # one new version between them
    assert results["page_view"] == 2
    by_family = {r.family_id: r.version for r in results["refresh"].families}
    if first == "page_view":
        assert by_family["REC"] is None and results["refresh"].already_current == 1
    else:
        assert by_family["REC"] == 2
    created = [e for e in audit_entries(scene) if e.action == "assessment_created"]
    assert sum(e.details["family_id"] == "REC" and e.details["version"] == 2 for e in created) == 1
