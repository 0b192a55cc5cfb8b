"""A re-scoring run records its scorer, engine settings and code; a resume must match them.

One model version's re-scores come from one provenance: a run under another --since (or the
Ray pipeline) is refused while another run holds unpromoted outcomes made otherwise. A restart
is audited when it discards, and the engine digest covers only what changes scores."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from serving import audit
from serving.db.models import AuditEntry, RescoredScore
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.rescore import RescoreRun, rescore
from serving.rescore_provenance import RunProvenance
from serving.rescore_runs import RescoreRestartError, RescoreResumeError
from shanyraq.errors import ShanyraqError
from tests.serving.rescore_fixtures import (
    DAY0,
    OLD_VERSION,
    CountingScorer,
    cli_config,
    populate,
    tiny_model,
)
from vision.bulk import open_scorer
from vision.engine import get_engine_config

MAX_PIXELS = 50_000_000
SIGNING_KEY = b"k" * 32
MIXED = "rescore_provenance_conflict"  # serving.rescore_runs.RescoreMixError's code


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
    recorded = (run.scorer, run.engine_config, run.code_version, run.model_artifact)
    assert recorded == dataclasses.astuple(started)
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


def _runs(engine) -> list[RescoreRun]:
    with make_session_factory(engine)() as session:
        return list(session.execute(select(RescoreRun).order_by(RescoreRun.id)).scalars())


def _outcomes_by_run(engine) -> dict[int, int]:
    with make_session_factory(engine)() as session:
        run_ids = session.execute(select(RescoredScore.run_id)).scalars().all()
    return {run_id: run_ids.count(run_id) for run_id in set(run_ids)}


def test_another_since_under_another_provenance_is_refused(tmp_path, scorer):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored, engine = _unfinished(url, tmp_path, scorer)
    started = RunProvenance.of(scorer)
    other = dataclasses.replace(started, engine_config="f" * 16)
    # Another engine digest, or another scorer path, under --since: a new run, refused.
    for by, provenance in ((scorer, other), (CountingScorer(scorer, name="gpu"), None)):
        with pytest.raises(ShanyraqError) as refused:
            rescore(engine, stored.store, by, since=DAY0, batch_size=2, progress=False,
                    provenance=provenance)  # fmt: skip
        assert refused.value.code == MIXED
        message = refused.value.message
        assert "re-scoring run 1 under test-0 (unfinished) holds 2 outcome(s)" in message
        assert "--restart" in message and "would mix" in message
    assert [r.id for r in _runs(engine)] == [1] and _outcomes_by_run(engine) == {1: 2}

    same = CountingScorer(scorer)  # the same provenance under another --since: allowed
    report = rescore(engine, stored.store, same, since=DAY0, batch_size=2, progress=False)
    assert report.complete and sorted(same.seen) == stored.ids[2:]
    engine.dispose()


def test_a_resume_or_restart_is_refused_while_another_run_holds_other_scores(
    tmp_path, scorer, database_url
):
    url = database_url
    stored, engine = _unfinished(url, tmp_path, scorer)
    started = RunProvenance.of(scorer)
    other = dataclasses.replace(started, engine_config="f" * 16)
    # Run 2 (--since) finishes the photos run 1 had not reached, under run 1's provenance.
    rescore(engine, stored.store, scorer, since=DAY0, batch_size=2, progress=False)
    # Run 1 cannot be started over under another provenance: run 2 holds 4 outcomes.
    with pytest.raises(
        ShanyraqError, match=r"run 2 under test-0 \(--since 2026-01-01, finished, not promoted\)"
    ):
        rescore(engine, stored.store, scorer, batch_size=2, progress=False, provenance=other,
                restart=True)  # fmt: skip
    assert _outcomes_by_run(engine) == {1: 2, 2: 4}  # nothing discarded
    # A third run under the other provenance: refused until run 1 and 2 are promoted.
    third: dict[str, Any] = {"since": DAY0.replace(day=3), "batch_size": 2, "progress": False}
    with pytest.raises(ShanyraqError, match=r"run 1 .* finish it as it was started"):
        rescore(engine, stored.store, scorer, provenance=other, **third)
    rescore(engine, stored.store, scorer, batch_size=2, progress=False)  # run 1 finishes
    with pytest.raises(ShanyraqError, match=r"run 1 .* promote it first"):
        rescore(engine, stored.store, scorer, provenance=other, **third)
    with session_scope(make_session_factory(engine)) as session:  # as `rescore promote` audits
        audit.append(
            session, SIGNING_KEY, actor="cli", action="scores_promoted", target="model:test-0",
            details={"run_ids": [1, 2]},
        )  # fmt: skip
    report = rescore(engine, stored.store, scorer, provenance=other, **third)
    assert report.complete and report.this_session == 0  # every photo has its outcome
    engine.dispose()


def test_the_ray_pipeline_records_provenance_and_is_refused_the_same(tmp_path, scorer):
    pytest.importorskip("ray", reason="ray is an optional extra: pip install 'ray[data]'")
    from serving.rescore_ray import expected_provenance, rescore_with_ray
    from serving.rescore_ray_actor import ScoreBatch

    model = tiny_model(tmp_path)  # the scorer's (built once per process)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    _, engine = _unfinished(url, tmp_path, scorer)  # decodes at 1024 px
    ray_cpu = expected_provenance(model, prefer="cpu", num_gpus_per_actor=0, decode_short_side=None)
    assert ray_cpu.scorer == "cpu" and ray_cpu != RunProvenance.of(scorer)
    with pytest.raises(ShanyraqError, match="run 1 under test-0"):  # before Ray starts
        rescore_with_ray(
            url, tmp_path / "photos", model, model_version="test-0", prefer="cpu",
            max_pixels=MAX_PIXELS,
        )  # fmt: skip
    assert [r.since_key for r in _runs(engine)] == [""]
    same = expected_provenance(model, prefer="auto", num_gpus_per_actor=0, decode_short_side=1024)
    assert same == RunProvenance.of(scorer, model_dir=model)  # the model's files recorded too
    # Each actor checks that its scorer is the one the run recorded.
    actor: dict[str, Any] = {
        "model_dir": str(model), "store_root": str(tmp_path / "photos"), "run_id": 1,
        "db_url": url, "prefer": "cpu", "max_pixels": MAX_PIXELS,
    }  # fmt: skip
    ScoreBatch(**actor, decode_short_side=1024, provenance=same)
    with pytest.raises(RescoreResumeError, match="recorded the cpu path"):
        ScoreBatch(**actor, decode_short_side=None, provenance=same)
    engine.dispose()


def test_settings_that_do_not_change_scores_leave_the_digest_alone(tmp_path, scorer):
    config = get_engine_config()

    def changed(**runtime):
        return config.model_copy(update={"runtime": config.runtime.model_copy(update=runtime)})

    def digest(engine_config):
        return RunProvenance.of(scorer, engine_config).engine_config

    shipped = digest(config)
    quality = config.quality.model_copy(update={"blur_warn": 1.0})
    hashing = config.hashing.model_copy(update={"reuse_radius": 3})
    speed_only = [
        changed(intra_op_threads=3, inter_op_threads=2, allow_spinning=True, log_severity=1,
                device_id=1, io_binding=False, trt_cache_dir=tmp_path),
        config.model_copy(update={"max_photos_per_call": 8}),
        config.model_copy(update={"quality": quality, "hashing": hashing}),
    ]  # fmt: skip
    assert [digest(c) for c in speed_only] == [shipped] * len(speed_only)
    abstain = config.abstain.model_copy(update={"min_room_probability": 0.51})
    score_changing = [
        config.model_copy(update={"abstain": abstain}),
        changed(providers=("cpu",)),
        changed(fp16=not config.runtime.fp16),
    ]
    digests = [digest(c) for c in score_changing]
    # The size the scorer decodes at (this one: 1024 px; None: full size, the GPU path).
    digests += [
        RunProvenance.for_path("cpu", decode_short_side=side).engine_config for side in (512, None)
    ]
    assert shipped == RunProvenance.for_path("cpu", decode_short_side=1024).engine_config
    assert shipped not in digests and len(set(digests)) == len(digests)

    # A resume with other thread counts goes on; one with another abstention is refused.
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored, engine = _unfinished(url, tmp_path, scorer)
    with pytest.raises(RescoreResumeError, match="engine settings digest"):
        rescore(engine, stored.store, scorer, batch_size=2, progress=False,
                provenance=RunProvenance.of(scorer, score_changing[0]))  # fmt: skip
    threads = RunProvenance.of(scorer, speed_only[0])
    report = rescore(engine, stored.store, scorer, batch_size=2, progress=False, provenance=threads)
    assert report.resumed and report.complete
    engine.dispose()


def test_a_restart_is_audited_before_scoring_starts(tmp_path, scorer, monkeypatch):
    from serving.storage import PhotoStore
    from shanyraq.cli import build_app
    from vision.bulk import CpuBytesScorer

    model = tiny_model(tmp_path)  # the scorer's (built once per process)
    config = cli_config(tmp_path, 5)
    url = f"sqlite:///{tmp_path / 'data' / 'shanyraq.db'}"
    engine = make_engine(url)
    with pytest.raises(Stop):  # run 1 scores 2 photos and stops
        rescore(engine, PhotoStore(tmp_path / "data" / "photos"), scorer, batch_size=2,
                progress=False, on_batch=_stop)  # fmt: skip
    started = RunProvenance.of(scorer)

    def crash(self, prepared):
        raise RuntimeError("killed while scoring")

    monkeypatch.setattr(CpuBytesScorer, "infer", crash)  # the restarted run dies at once
    args = ["rescore", "--model", str(model), "--config", str(config), "--device", "cpu",
            "--no-progress", "--batch-size", "2", "--restart"]  # fmt: skip
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code != 0 and isinstance(result.exception, RuntimeError)
    with make_session_factory(engine)() as session:
        entries = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
    assert [e.action for e in entries] == ["rescore_restarted"]  # no photos_rescored
    entry = entries[0]
    assert (entry.actor, entry.target) == ("cli", "model:test-0")
    assert entry.details["run_id"] == 1 and entry.details["since_key"] == ""
    assert (entry.details["discarded_scored"], entry.details["discarded_failed"]) == (2, 0)
    assert entry.details["last_photo_id"] == 2
    # Anchored outside the database in the discarding transaction, as every command's entry.
    anchor = tmp_path / "data" / "audit_anchor.log"
    assert anchor.read_text().split() == [str(entry.seq), entry.hash]
    assert entry.details["before"] == dataclasses.asdict(started)
    assert entry.details["after"]["engine_config"] != started.engine_config  # decodes at 512
    assert _outcomes_by_run(engine) == {}  # the discarded outcomes are gone with it
    engine.dispose()
