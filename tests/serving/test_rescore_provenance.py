"""A re-scoring run records its scorer, engine settings and code; a resume must match them."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from serving.db.models import RescoredScore
from serving.db.session import make_engine, make_session_factory
from serving.rescore import (
    RescoreRestartError,
    RescoreResumeError,
    RescoreRun,
    RunProvenance,
    rescore,
)
from tests.serving.rescore_fixtures import OLD_VERSION, CountingScorer, populate, tiny_model
from vision.bulk import open_scorer

MAX_PIXELS = 50_000_000


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    model = tiny_model(tmp_path_factory.mktemp("models"))
    return open_scorer(model, prefer="cpu", max_pixels=MAX_PIXELS, decode_short_side=1024)


class Stop(Exception):
    pass


def _stop(_done):
    raise Stop


def _unfinished(url, tmp_path, scorer, n=6):
    """n stored photos and a run under `scorer` stopped after its first batch of 2."""
    stored = populate(url, tmp_path / "photos", n)
    engine = make_engine(url)
    with pytest.raises(Stop):
        rescore(engine, stored.store, scorer, batch_size=2, progress=False, on_batch=_stop)
    return stored, engine


def _run(engine):
    with make_session_factory(engine)() as session:
        return session.execute(select(RescoreRun)).scalar_one()


def test_a_resume_under_another_scorer_settings_or_code_is_refused(tmp_path, scorer):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored, engine = _unfinished(url, tmp_path, scorer)
    started = RunProvenance.of(scorer)
    run = _run(engine)
    assert (run.scorer, run.engine_config, run.code_version) == dataclasses.astuple(started)
    assert run.status == "running" and run.scored == 2

    with pytest.raises(RescoreResumeError) as refused:
        rescore(
            engine, stored.store, CountingScorer(scorer, name="gpu"), batch_size=2, progress=False
        )
    assert refused.value.code == "rescore_resume_mismatch"
    assert "scorer path 'cpu', now 'gpu' (to resume: --device cpu)" in refused.value.message
    assert "--restart" in refused.value.message
    for changed, words in (
        ({"engine_config": "0" * 16}, "engine settings digest"),
        ({"code_version": "0.0.0+000000000000"}, "code version"),
    ):
        other = dataclasses.replace(started, **changed)
        with pytest.raises(RescoreResumeError, match=words):
            rescore(engine, stored.store, scorer, batch_size=2, progress=False, provenance=other)
    assert _run(engine).scored == 2  # nothing written by the refused sessions

    same = CountingScorer(scorer)
    report = rescore(engine, stored.store, same, batch_size=2, progress=False)
    assert report.resumed and report.complete and report.provenance == started
    assert sorted(same.seen) == stored.ids[2:]
    engine.dispose()


def test_restart_discards_an_unfinished_run_and_records_the_new_scorer(tmp_path, scorer):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored, engine = _unfinished(url, tmp_path, scorer)
    gpu = CountingScorer(scorer, name="gpu")
    report = rescore(engine, stored.store, gpu, batch_size=2, progress=False, restart=True)
    assert report.complete and not report.resumed
    assert sorted(gpu.seen) == stored.ids and report.scored == report.this_session == 6
    assert report.provenance is not None and report.provenance.scorer == "gpu"
    with make_session_factory(engine)() as session:
        rows = session.execute(select(RescoredScore.photo_id)).scalars().all()
    assert sorted(rows) == stored.ids  # each photo once: the first session's scores are gone
    with pytest.raises(RescoreRestartError) as refused:
        rescore(engine, stored.store, gpu, batch_size=2, progress=False, restart=True)
    assert refused.value.code == "rescore_restart_refused"
    engine.dispose()


def test_migration_0006_over_an_existing_run_and_back(tmp_path, database_url, scorer):
    from alembic import command
    from sqlalchemy import inspect, text

    from serving.migrations import alembic_config, upgrade

    upgrade(database_url, "0005")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO rescore_runs (model_version, since_key, status, last_photo_id, scored, "
            "failed, started_at, updated_at) VALUES (:m, '', 'running', 0, 0, 0, :at, :at)"
        ), {"m": OLD_VERSION, "at": "2026-01-01 00:00:00+00:00"})  # fmt: skip
    upgrade(database_url)
    with engine.begin() as connection:
        row = connection.execute(
            text("SELECT model_version, scorer, engine_config, code_version FROM rescore_runs")
        ).one()
    assert tuple(row) == (OLD_VERSION, None, None, None)  # unknown for a run made before
    command.downgrade(alembic_config(database_url), "0005")
    columns = {c["name"] for c in inspect(engine).get_columns("rescore_runs")}
    assert not {"scorer", "engine_config", "code_version"} & columns and "since_key" in columns
    with engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM rescore_runs")).scalar() == 1
    upgrade(database_url)
    columns = {c["name"] for c in inspect(engine).get_columns("rescore_runs")}
    assert {"scorer", "engine_config", "code_version"} <= columns
    engine.dispose()


def test_a_run_from_before_0006_is_resumed_and_then_records_its_provenance(tmp_path, scorer):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored, engine = _unfinished(url, tmp_path, scorer)
    with make_session_factory(engine).begin() as session:  # as a run started before 0006
        run = session.execute(select(RescoreRun)).scalar_one()
        run.scorer = run.engine_config = run.code_version = None
    report = rescore(engine, stored.store, scorer, batch_size=2, progress=False)
    assert report.resumed and report.complete and report.provenance == RunProvenance.of(scorer)
    engine.dispose()
