"""Promotion: refusals, a dry run that writes nothing, batches that survive an interruption,
one audit entry on an intact chain, and reassessment of exactly the families it made stale."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select
from typer.testing import CliRunner

from serving import audit
from serving.assessments import is_current
from serving.db.models import Assessment, AuditEntry, Base, Family, Photo, User
from serving.db.session import make_engine, make_session_factory
from serving.latest_assessments import latest
from serving.migrations import upgrade
from serving.promote import promote, scores_sha256
from serving.promote_plan import RescoreIncompleteError, RescoreRunNotFoundError, plan
from serving.reassessment import (
    ReassessActorError,
    RefreshRegionForbiddenError,
    reassess,
    resolve_actor,
    resolve_refresh_actor,
    stale_families,
)
from serving.rescore import ensure_tables, rescore, scores_for
from serving.rescore_cli import app as rescore_app
from serving.rescore_coverage import RescoreScopePartialError
from serving.rescore_promote_cli import _promote_actor
from serving.rescore_service_model import ServingModelMismatchError
from shanyraq.errors import ModelMismatchError
from tests.serving.helpers import Service, jpeg, make_settings
from tests.serving.rescore_fixtures import DAY0, cli_config, cpu_scorer, file_and_assess, populate
from vision.artifact import read_artifact

KEY = b"test-secret-key-0123456789abcdef"


def _version(model: Path) -> str:
    return read_artifact(model).model_version


def _photos(sessions: Any) -> dict[int, tuple[Any, str | None]]:
    with sessions() as session:
        return {p.id: (p.score, p.model_version) for p in session.execute(select(Photo)).scalars()}


def _actions(sessions: Any) -> list[str]:
    with sessions() as session:
        return list(session.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars())


class Interrupted(Exception):
    pass


# --- refusals (stored photos with placeholder old scores) -------------------------------------


@pytest.fixture
def stored(tmp_path: Path, database_url: str) -> Any:
    photos = populate(database_url, tmp_path / "photos", 5)
    engine = make_engine(database_url)
    yield engine, photos
    engine.dispose()


def test_refuses_without_a_run(stored: Any, models: tuple[Path, Path]) -> None:
    engine, _ = stored
    _, new = models
    with pytest.raises(RescoreRunNotFoundError, match="shanyraq rescore --model") as caught:
        plan(make_session_factory(engine), model_dir=new, serving_model_dir=new)
    assert caught.value.code == "rescore_run_not_found"


def test_refuses_an_unfinished_run(stored: Any, models: tuple[Path, Path]) -> None:
    engine, photos = stored
    _, new = models

    def stop(_done: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        rescore(engine, photos.store, cpu_scorer(new), batch_size=2, progress=False, on_batch=stop)
    with pytest.raises(RescoreIncompleteError, match="again to finish it") as caught:
        promote(make_session_factory(engine), KEY, model_dir=new, serving_model_dir=new, actor="t")
    assert caught.value.code == "rescore_incomplete"


def test_partial_scope_is_refused_until_every_photo_has_a_score(
    stored: Any, models: tuple[Path, Path]
) -> None:
    engine, photos = stored
    _, new = models
    sessions = make_session_factory(engine)
    rescore(engine, photos.store, cpu_scorer(new), since=DAY0 + timedelta(days=3), progress=False)
    with pytest.raises(RescoreScopePartialError, match="--since 2026-01-01") as caught:
        plan(sessions, model_dir=new, serving_model_dir=new)
    assert caught.value.code == "rescore_scope_partial"
    assert "3 photo(s)" in caught.value.message
    # Following the message: re-score from the date it names; the two runs cover every photo.
    rescore(engine, photos.store, cpu_scorer(new), since=DAY0, progress=False)
    found = plan(sessions, model_dir=new, serving_model_dir=new)
    assert found.to_update == 5 and len(found.run_ids) == 2


def test_refuses_when_the_service_scores_with_another_model(
    stored: Any, models: tuple[Path, Path]
) -> None:
    engine, photos = stored
    old, new = models
    rescore(engine, photos.store, cpu_scorer(new), progress=False)
    sessions = make_session_factory(engine)
    for serving_model in (old, None):
        with pytest.raises(ServingModelMismatchError, match="set model_dir") as caught:
            promote(sessions, KEY, model_dir=new, serving_model_dir=serving_model, actor="t")
        assert caught.value.code == "serving_model_mismatch"
    assert {version for _, version in _photos(sessions).values()} == {"old-model"}


def test_refuses_a_model_of_another_taxonomy(tmp_path: Path, models: tuple[Path, Path]) -> None:
    _, new = models
    other = tmp_path / "other-taxonomy"
    shutil.copytree(new, other)
    meta = json.loads((other / "model.json").read_text())
    meta["taxonomy_fingerprint"] = "0" * 64
    (other / "model.json").write_text(json.dumps(meta))
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    with pytest.raises(ModelMismatchError, match="retrain or export") as caught:
        plan(make_session_factory(engine), model_dir=other, serving_model_dir=other)
    assert caught.value.code == "model_mismatch"
    engine.dispose()


# --- a service whose photos were scored at upload by the old model ----------------------------


@dataclass
class Scene:
    old_service: Service
    new_service: Service
    sessions: Any
    new: Path
    new_version: str


@pytest.fixture
def scene(tmp_path: Path, database_url: str, make_service: Any, models: tuple[Path, Path]) -> Any:
    """F1, F2 (two photos each) uploaded and assessed under the old model; everything re-scored
    under the new one; then the service switched to the new model, and F3 uploaded and assessed
    there (untouched by the run)."""
    from serving.app import create_app

    old, new = models
    before = make_service(model_dir=old)
    file_and_assess(before, ("F1", "F2"))
    services = before.services
    report = rescore(services.db_engine, services.store, cpu_scorer(new), progress=False)
    assert report.complete and report.scored == 4
    client = TestClient(
        create_app(make_settings(tmp_path, database_url, model_dir=new)),
        base_url="http://127.0.0.1",
    )
    with client:
        after = Service(client=client, app=client.app, tokens=before.tokens)
        after.create_family("F3")
        assert after.upload("F3", jpeg(99)).status_code == 201
        assert after.client.post(
            "/families/F3/assessments", headers=after.headers("commission")
        ).status_code == 201  # fmt: skip
        yield Scene(before, after, after.services.sessions, new, _version(new))


def _latest(sessions: Any) -> dict[str, tuple[int, str]]:
    with sessions() as session:
        rows = session.execute(select(Assessment).order_by(Assessment.version)).scalars()
        return {row.family_id: (row.version, row.model_versions["vision"]) for row in rows}


def test_dry_run_reports_the_change_and_writes_nothing(scene: Scene) -> None:
    photos, actions = _photos(scene.sessions), _actions(scene.sessions)
    found = plan(scene.sessions, model_dir=scene.new, serving_model_dir=scene.new)
    assert (found.to_update, found.already_on_model, found.kept_old) == (4, 0, {})
    assert found.stale_families == ["F1", "F2"] and found.stale_with_decision == 0
    assert found.shift.old.photos == found.shift.new.photos == 4
    assert found.shift.old_unreadable == 0
    assert sum(found.shift.new.top_rooms.values()) == 4
    assert 0.0 <= (found.shift.new.abstain_rate or 0.0) <= 1.0
    assert _photos(scene.sessions) == photos and _actions(scene.sessions) == actions


def test_promote_resumes_after_an_interruption_is_idempotent_and_audited(scene: Scene) -> None:
    sessions, version = scene.sessions, scene.new_version
    untouched = {pid: v for pid, v in _photos(sessions).items() if v[1] == version}
    assert len(untouched) == 1  # F3's photo, scored by the new model at upload
    batches: list[int] = []

    def stop_after_one(done: int) -> None:
        batches.append(done)
        raise Interrupted

    with pytest.raises(Interrupted):
        promote(
            sessions, KEY, model_dir=scene.new, serving_model_dir=scene.new, actor="cli",
            batch_size=3, on_batch=stop_after_one,
        )  # fmt: skip
    assert batches == [3]
    assert sum(1 for _, v in _photos(sessions).values() if v == version) == 1 + 3
    assert "scores_promoted" not in _actions(sessions)

    resumed = promote(
        sessions, KEY, model_dir=scene.new, serving_model_dir=scene.new, actor="cli", batch_size=3
    )
    assert resumed.updated == 1 and resumed.audited
    with sessions() as session:
        outcomes = {pid: row.score for pid, row in scores_for(session, version).items()}
        assert resumed.scores_sha256 == scores_sha256(session, version)
        entry = session.execute(
            select(AuditEntry).where(AuditEntry.action == "scores_promoted")
        ).scalar_one()
        assert audit.verify(session, scene.new_service.services.signing_key).ok
    assert entry.actor == "cli" and entry.target == f"model:{version}"
    assert entry.details["scores_sha256"] == resumed.scores_sha256
    assert entry.details["photos_on_model"] == 4
    photos = _photos(sessions)
    assert {pid: photos[pid][0] for pid in outcomes} == outcomes  # exactly the run's scores
    assert all(photos[pid] == value for pid, value in untouched.items())

    actions = _actions(sessions)
    again = promote(sessions, KEY, model_dir=scene.new, serving_model_dir=scene.new, actor="cli")
    assert again.updated == 0 and not again.audited
    assert _photos(sessions) == photos and _actions(sessions) == actions


def test_reassess_makes_new_versions_only_for_the_families_it_touched(scene: Scene) -> None:
    sessions, version = scene.sessions, scene.new_version
    before = _latest(sessions)
    assert before["F3"] == (1, version) and before["F1"][1] != version
    promote(sessions, KEY, model_dir=scene.new, serving_model_dir=scene.new, actor="cli")
    with sessions() as session:
        assert stale_families(session, version) == ["F1", "F2"]
        # Same record, same photos, other scores: the old assessment is no longer current.
        current = {
            family.id: is_current(session, latest(session, family.id), family)  # type: ignore[arg-type]
            for family in session.execute(select(Family)).scalars()
        }
        assert current == {"F1": False, "F2": False, "F3": True}
        actor = resolve_actor(session, "admin_national")
        with pytest.raises(ReassessActorError, match="admin"):
            resolve_actor(session, "commission")  # an account of one region
        # --reassess covers every region: an admin of one region may not run it.
        assert session.execute(select(User.region).where(User.username == "admin")).scalar()
        with pytest.raises(RefreshRegionForbiddenError, match="national admin"):
            resolve_refresh_actor(session, "admin", region=None)
    # promote says so in its own words: it has no --region to offer.
    with pytest.raises(RefreshRegionForbiddenError, match="promote --reassess") as refused:
        _promote_actor(sessions, "admin")
    assert "--region REGION" in refused.value.message and "(--region" not in refused.value.message
    made = reassess(scene.new_service.services, model_version=version, actor=actor, progress=False)
    assert made == [("F1", 2), ("F2", 2)]
    after = _latest(sessions)
    assert after == {"F1": (2, version), "F2": (2, version), "F3": (1, version)}
    with sessions() as session:
        for family in session.execute(select(Family)).scalars():
            assert is_current(session, latest(session, family.id), family)  # type: ignore[arg-type]
        creators = session.execute(
            select(User.username).join(Assessment, Assessment.created_by == User.id)
            .where(Assessment.version == 2)
        ).scalars().all()  # fmt: skip
        assert audit.verify(session, scene.new_service.services.signing_key).ok
    assert creators == ["admin_national", "admin_national"]
    assert reassess(scene.new_service.services, model_version=version, actor=actor) == []


# --- the command line and the schema ----------------------------------------------------------


def test_cli_promotes_after_a_dry_run(tmp_path: Path, models: tuple[Path, Path]) -> None:
    old, new = models
    config = cli_config(tmp_path, 4, model_dir=old)
    runner, common = CliRunner(), ["--config", str(config), "--no-progress"]
    scored = runner.invoke(rescore_app, ["--model", str(new), "--device", "cpu", *common])
    assert scored.exit_code == 0, scored.output
    refused = runner.invoke(rescore_app, ["promote", "--model", str(new), *common])
    assert isinstance(refused.exception, ServingModelMismatchError)
    config.write_text(config.read_text().replace(str(old), str(new)))
    dry = runner.invoke(rescore_app, ["promote", "--model", str(new), "--dry-run", *common])
    assert dry.exit_code == 0, dry.output
    assert "photos to update: 4" in dry.output and "nothing was written" in dry.output
    assert "4 without a readable current score" in dry.output  # the placeholder old scores
    done = runner.invoke(rescore_app, ["promote", "--model", str(new), *common])
    assert done.exit_code == 0, done.output
    assert "updated now: 4 photo(s)" in done.output
    again = runner.invoke(
        rescore_app, ["promote", "--model", str(new), "--reassess", "--as", "admin", *common]
    )
    assert again.exit_code == 0, again.output
    assert "nothing changed" in again.output and "reassessed 0 family(ies)" in again.output
    no_actor = runner.invoke(rescore_app, ["promote", "--model", str(new), "--reassess"])
    assert no_actor.exit_code != 0 and "--as" in no_actor.output
    assert isinstance(typer.main.get_command(rescore_app), typer.core.TyperGroup)


def test_migrations_make_the_rescore_tables_also_over_ensure_tables(tmp_path: Path) -> None:
    for name, before in (("fresh", None), ("older", ensure_tables)):
        url = f"sqlite:///{tmp_path / f'{name}.db'}"
        upgrade(url, "0001")
        engine = make_engine(url)
        if before is not None:
            before(engine)  # a database the re-scoring CLI set up before revision 0002
        upgrade(url)
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            tables = set(inspect(connection).get_table_names())
        engine.dispose()
        assert diff == [], (name, diff)
        assert {"rescore_runs", "rescore_scores"} <= tables
