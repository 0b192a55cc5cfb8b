"""`shanyraq assessments refresh`: every assessment made stale, whatever made it so, recomputed
once; current ones left alone; a region limit; a dry run that writes nothing; admins only (a
regional one in its region); the run audited on an intact chain; and no second new version
when a page view recomputes the same family at the same moment."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from serving import assessments, assessments_refresh, audit, reassessment
from serving.assessments import fusion_version, is_current, latest, welfare_config_digest
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
from shanyraq.cli import build_app
from tests.serving.helpers import (
    OTHER_REGION,
    REGION,
    Service,
    criteria,
    jpeg,
    serving_yaml,
    small_fusion_model,
)
from welfare.assess import LOGIC_VERSION

# The scene's stale families and why each is stale; CUR is current and NEW never assessed.
STALE = {
    "CFG": "welfare_config",  # assessed before a level-6 rule changed
    "FUS": "fusion_model",  # assessed with the fusion model the service used before
    "OTH": "record",  # OTHER_REGION; record edited after its assessment
    "PHO": "photos",  # a photo uploaded after its assessment
    "REC": "record",  # record edited after its assessment
}
ASSESSED = sorted([*STALE, "CUR"])


@pytest.fixture(scope="module")
def fusion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_fusion_model(tmp_path_factory.mktemp("fusion"))


@pytest.fixture(scope="module")
def new_fusion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fusion model a site deploys after FUS was assessed: another version."""
    return small_fusion_model(tmp_path_factory.mktemp("new_fusion"), seed=1)


def _raise_level6_min_vehicles(data: dict[str, Any]) -> None:
    """A decisive edit (a rule's threshold: `rules` decide what an assessment says) that neither
    the fusion model's feature basis nor its label basis (the poverty line) records, so the
    model trained before it still loads."""
    data["rules"]["level6"]["min_vehicles"] += 1


def _edit_record(service: Service, family_id: str, *, who: str = "inspector") -> None:
    body = {"criteria": criteria(per_capita_income_kzt=31000.0)}
    edited = service.client.put(f"/families/{family_id}", json=body, headers=service.headers(who))
    assert edited.status_code == 200, edited.text


@pytest.fixture
def scene(make_service: Any, fusion_dir: Path, new_fusion_dir: Path, edit_config: Any) -> Service:
    """Families made stale for each reason `stale_reason` knows, one current, one unassessed."""
    from welfare.fusion import FusionModel

    service = make_service(fusion_dir=fusion_dir)
    service.create_family("FUS")
    service.assess("FUS", who="inspector")
    # As after a restart with a new fusion model (a site deploying one).
    service.services.fusion_model = FusionModel.load(new_fusion_dir)
    assert fusion_version(service.services) != FusionModel.load(fusion_dir).meta.version
    service.create_family("CFG")
    service.assess("CFG", who="inspector")
    edit_config("welfare.yaml", _raise_level6_min_vehicles)
    for family_id in ("CUR", "PHO", "REC"):
        service.create_family(family_id)
        service.assess(family_id, who="inspector")
    service.create_family("OTH", region=OTHER_REGION)
    service.assess("OTH", who="admin_national")
    service.create_family("NEW")
    _edit_record(service, "REC")
    _edit_record(service, "OTH", who="admin_national")
    assert service.upload("PHO", jpeg(1)).status_code == 201
    return service


def _versions(service: Service) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    with service.services.sessions() as session:
        for row in session.execute(select(Assessment).order_by(Assessment.version)).scalars():
            found.setdefault(row.family_id, []).append(row.version)
    return found


def _audit(service: Service) -> list[AuditEntry]:
    with service.services.sessions() as session:
        return list(session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())


def _actor(service: Service, username: str, region: str | None = None) -> tuple[int, str]:
    with service.services.sessions() as session:
        return resolve_refresh_actor(session, username, region=region)


def _all_current(service: Service) -> bool:
    services = service.services
    with services.sessions() as session:
        return all(
            is_current(session, latest(session, f.id), f, fusion=fusion_version(services))  # type: ignore[arg-type]
            for f in session.execute(select(Family).where(Family.id.in_(ASSESSED))).scalars()
        )


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
    assert not _all_current(scene)
    seen = len(_audit(scene))
    actor = _actor(scene, "admin_national")

    report = refresh(services, actor=actor, progress=False)
    assert [(r.family_id, r.reason, r.version) for r in report.families] == [
        (family_id, why, 2) for family_id, why in sorted(STALE.items())
    ]
    assert report.refreshed == {"record": 2, "photos": 1, "fusion_model": 1, "welfare_config": 1}
    assert report.already_current == 0
    assert _versions(scene) == {f: [1, 2] for f in STALE} | {"CUR": [1]}  # NEW: never assessed
    assert _all_current(scene)

    entries = _audit(scene)[seen:]
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
    assert _versions(scene) == {f: [1, 2] for f in STALE} | {"CUR": [1]}


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
    entries = _audit(service)
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
    actor = _actor(scene, "admin_national")
    _failing_third(monkeypatch, error)
    with pytest.raises(error, match="the third family failed"):
        refresh(services, actor=actor, progress=False)
    [(start, end)] = _runs(scene)
    assert (start.actor, start.details["planned"]) == ("admin_national", 5)
    assert end is not None and (end.details["outcome"], end.details["error"]) == (
        outcome, error.__name__
    )  # fmt: skip
    assert sum(end.details["refreshed"].values()) == 2 and end.details["not_reached"] == 3
    between = [e.action for e in _audit(scene) if start.seq < e.seq < end.seq]
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
        refresh(services, actor=_actor(scene, "admin_national"), progress=False)
    [(start, end)] = _runs(scene)
    assert end is None and start.details["planned"] == 5
    assert [e.action for e in _audit(scene) if e.seq > start.seq] == ["assessment_created"] * 2
    with services.sessions() as session:
        assert audit.verify(session, services.signing_key).ok


def test_region_limit_refreshes_that_region_only(scene):
    services = scene.services
    report = refresh(services, actor=_actor(scene, "admin_national"), region=OTHER_REGION)
    assert [(r.family_id, r.version) for r in report.families] == [("OTH", 2)]
    assert _versions(scene)["OTH"] == [1, 2]
    assert [s.family_id for s in find_stale(services, region=REGION)] == sorted(
        set(STALE) - {"OTH"}
    )
    assert find_stale(services, region=OTHER_REGION) == []
    run = _audit(scene)[-1]
    assert (run.action, run.target, run.details["region"]) == (
        "assessments_refreshed", f"region:{OTHER_REGION}", OTHER_REGION
    )  # fmt: skip


def test_only_the_decisive_welfare_config_makes_assessments_stale(scene, edit_config):
    services = scene.services
    refresh(services, actor=_actor(scene, "admin_national"), progress=False)

    def other_fairness_group(data: dict[str, Any]) -> None:
        data["fairness"]["min_families_per_group"] += 1

    edit_config("welfare.yaml", other_fairness_group)
    assert find_stale(services) == []
    edit_config("welfare.yaml", _raise_level6_min_vehicles)
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


# --- the command line -------------------------------------------------------------------------


def _cli_config(tmp_path: Path, database_url: str, fusion_dir: Path) -> Path:
    """serving.yaml for the command, on the scene's database, data folder and signing key,
    with the scene service's fusion model."""
    return serving_yaml(
        tmp_path / "serving-cli.yaml", tmp_path, database_url, fusion_dir=fusion_dir
    )


def _cli(config: Path, *args: str) -> Any:
    return CliRunner().invoke(build_app(), [*args, "--config", str(config)])


def test_cli_dry_run_then_refresh_then_nothing_left_and_the_chain_verifies(
    scene, tmp_path, database_url, new_fusion_dir
):
    config = _cli_config(tmp_path, database_url, new_fusion_dir)
    versions, entries = _versions(scene), len(_audit(scene))
    dry = _cli(config, "assessments", "refresh", "--as", "admin_national", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "stale assessments in every region: 5" in dry.output
    for reason, n in (("record", 2), ("photos", 1), ("fusion_model", 1), ("welfare_config", 1)):
        assert f"  {reason}: {n} (" in dry.output
    assert "nothing was written" in dry.output
    assert _versions(scene) == versions and len(_audit(scene)) == entries

    done = _cli(config, "assessments", "refresh", "--as", "admin_national", "--progress")
    assert done.exit_code == 0, done.output
    assert "refreshed 5 of 5 stale assessment(s) in every region" in done.output
    assert "  record: 2 (the family's record changed)" in done.output
    assert "refreshing: 100%" in done.output  # the bar, asked for
    assert _versions(scene) == {f: [1, 2] for f in STALE} | {"CUR": [1]}
    run = _audit(scene)[-1]
    assert (run.action, run.actor) == ("assessments_refreshed", "admin_national")
    assert run.details["refreshed"] == {
        "record": 2, "photos": 1, "fusion_model": 1, "welfare_config": 1
    }  # fmt: skip

    again = _cli(config, "assessments", "refresh", "--as", "admin_national")
    assert again.exit_code == 0, again.output
    assert "refreshed 0 of 0 stale assessment(s)" in again.output
    assert "refreshing" not in again.output  # no bar by default where stderr is no terminal
    assert _versions(scene) == {f: [1, 2] for f in STALE} | {"CUR": [1]}
    verified = _cli(config, "audit", "verify")
    assert verified.exit_code == 0 and "audit log intact" in verified.output, verified.output


def test_cli_refuses_non_admins_and_regional_admins_outside_their_region(
    scene, tmp_path, database_url, new_fusion_dir
):
    config = _cli_config(tmp_path, database_url, new_fusion_dir)
    versions, entries = _versions(scene), len(_audit(scene))
    refusals = {
        ("--as", "commission"): "reassess_actor_invalid",
        ("--as", "admin", "--region", OTHER_REGION): "refresh_region_forbidden",
        ("--as", "admin"): "refresh_region_forbidden",  # every region is more than its own
    }
    for args, code in refusals.items():
        for dry in ((), ("--dry-run",)):
            refused = _cli(config, "assessments", "refresh", *args, *dry)
            assert refused.exit_code != 0 and refused.exception.code == code, refused.output
    assert _versions(scene) == versions and len(_audit(scene)) == entries

    own = _cli(config, "assessments", "refresh", "--as", "admin", "--region", REGION)
    assert own.exit_code == 0, own.output
    assert f"refreshed 4 of 4 stale assessment(s) in {REGION}" in own.output
    assert _versions(scene)["OTH"] == [1]  # the other region's stale family is left for its admin


# --- a refresh and a page view of the same stale family at the same moment --------------------


@pytest.mark.parametrize("first", ["page_view", "refresh"])
def test_refresh_and_a_page_view_at_once_make_one_new_version(scene, monkeypatch, first):
    """`first` computes the new version and waits, holding the family's lock, until the other
    has reached the lock; neither may then add a version of its own."""
    services = scene.services
    actor = _actor(scene, "admin_national")
    for family_id in ("CFG", "FUS", "PHO"):  # REC is then the one stale family of REGION
        assert recompute(services, family_id, actor=actor) == 2
    assert recompute(services, "CUR", actor=actor) is None  # current: left alone
    computed, arrived, release = threading.Event(), threading.Event(), threading.Event()
    real_compute, real_lock = assessments.compute, assessments.lock_family

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
    monkeypatch.setattr(assessments, "lock_family", arriving_lock)
    monkeypatch.setattr(reassessment, "lock_family", arriving_lock)
    monkeypatch.setattr(assessments_refresh, "find_stale", found_then_arriving)
    results: dict[str, Any] = {}

    def page_view() -> None:
        if first != "page_view":
            arrived.set()  # on SQLite it queues for the write connection before any lock
        with session_scope(services.sessions) as session:
            family = session.get_one(Family, "REC")
            row = assessments.latest_current(session, services, family, actor=actor)
            results["page_view"] = row.version

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
    assert _versions(scene)["REC"] == [1, 2]  # one new version between them
    assert results["page_view"] == 2
    by_family = {r.family_id: r.version for r in results["refresh"].families}
    if first == "page_view":
        assert by_family["REC"] is None and results["refresh"].already_current == 1
    else:
        assert by_family["REC"] == 2
    created = [e for e in _audit(scene) if e.action == "assessment_created"]
    assert sum(e.details["family_id"] == "REC" and e.details["version"] == 2 for e in created) == 1
