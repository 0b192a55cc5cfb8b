"""A re-scoring run records a digest of the model's files: a copy whose model.json or model.onnx
changed under the same model_version is another scorer, and a resume under it is refused."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from serving.db.session import make_engine, make_session_factory, session_scope
from serving.rescore import RescoreRun, rescore
from serving.rescore_provenance import artifact_digest
from serving.rescore_runs import RescoreResumeError
from tests.serving.rescore_fixtures import OLD_VERSION, CountingScorer, populate, tiny_model
from tests.serving.rescore_helpers import recalibrate
from vision.bulk import open_scorer

MAX_PIXELS = 50_000_000


class Stop(Exception):
    pass


def _stop(_done):
    raise Stop


@pytest.fixture
def model_copy(tmp_path_factory, tmp_path):
    """A copy of the tiny model the test may edit."""
    copy = tmp_path / "model"
    shutil.copytree(tiny_model(tmp_path_factory.mktemp("models")), copy)
    return copy


def _scorer(model_dir):
    return open_scorer(model_dir, prefer="cpu", max_pixels=MAX_PIXELS, decode_short_side=1024)


def _run(engine):
    with make_session_factory(engine)() as session:
        return session.execute(select(RescoreRun)).scalar_one()


def _stopped_after_one_batch(engine, stored, model_dir: Path) -> None:
    """A run of `model_dir` over the stored photos, stopped after its first batch of 2."""
    with pytest.raises(Stop):
        rescore(
            engine, stored.store, _scorer(model_dir), batch_size=2, progress=False,
            on_batch=_stop, model_dir=model_dir,
        )  # fmt: skip


def test_a_resume_with_an_edited_copy_of_the_model_is_refused(tmp_path, model_copy):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored = populate(url, tmp_path / "photos", 6)
    engine = make_engine(url)
    started = artifact_digest(model_copy)
    _stopped_after_one_batch(engine, stored, model_copy)
    assert _run(engine).model_artifact == started and _run(engine).scored == 2

    recalibrate(model_copy)
    edited = artifact_digest(model_copy)
    assert edited != started
    with pytest.raises(RescoreResumeError) as refused:
        rescore(
            engine, stored.store, _scorer(model_copy), batch_size=2, progress=False,
            model_dir=model_copy,
        )  # fmt: skip
    message = refused.value.message
    assert refused.value.code == "rescore_resume_mismatch"
    assert f"model artifact digest (model.onnx, model.json) {started!r}, now {edited!r}" in message
    assert "--restart" in message
    assert _run(engine).scored == 2  # nothing written by the refused session

    scorer = CountingScorer(_scorer(model_copy))
    report = rescore(
        engine, stored.store, scorer, batch_size=2, progress=False, model_dir=model_copy,
        restart=True,
    )  # fmt: skip
    assert report.complete and sorted(scorer.seen) == stored.ids
    assert report.provenance is not None and report.provenance.model_artifact == edited
    engine.dispose()


def test_a_replaced_model_onnx_changes_the_digest(tmp_path_factory, model_copy):
    before = artifact_digest(model_copy)
    other = tiny_model(tmp_path_factory.mktemp("other"), seed=1)
    shutil.copyfile(other / "model.onnx", model_copy / "model.onnx")
    assert artifact_digest(model_copy) != before


def test_a_run_from_before_the_digest_resumes_with_a_warning_and_records_it(
    tmp_path, model_copy, caplog
):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored = populate(url, tmp_path / "photos", 4)
    engine = make_engine(url)
    _stopped_after_one_batch(engine, stored, model_copy)
    with session_scope(make_session_factory(engine)) as session:
        session.execute(select(RescoreRun)).scalar_one().model_artifact = None  # as before 0009

    with caplog.at_level(logging.WARNING, logger="serving.rescore_runs"):
        report = rescore(
            engine, stored.store, _scorer(model_copy), batch_size=2, progress=False,
            model_dir=model_copy,
        )  # fmt: skip
    assert report.resumed and report.complete and report.scored == 4
    assert "predates its recorded model artifact" in caplog.text
    assert _run(engine).model_artifact == artifact_digest(model_copy)
    engine.dispose()


def test_migration_0009_over_an_existing_run_and_back(database_url):
    from alembic import command
    from sqlalchemy import inspect, text

    from serving.migrations import alembic_config, upgrade

    upgrade(database_url, "0008")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO rescore_runs (model_version, since_key, status, last_photo_id, scored, "
            "failed, scorer, engine_config, code_version, started_at, updated_at) VALUES "
            "(:m, '', 'running', 0, 0, 0, 'cpu', :d, '1.0', :at, :at)"
        ), {"m": OLD_VERSION, "d": "0" * 16, "at": "2026-01-01 00:00:00+00:00"})  # fmt: skip
    upgrade(database_url)
    with engine.begin() as connection:
        row = connection.execute(text("SELECT scorer, model_artifact FROM rescore_runs")).one()
    assert tuple(row) == ("cpu", None)  # unknown for a run made before
    command.downgrade(alembic_config(database_url), "0008")
    columns = {c["name"] for c in inspect(engine).get_columns("rescore_runs")}
    assert "model_artifact" not in columns and "scorer" in columns
    upgrade(database_url)
    assert "model_artifact" in {c["name"] for c in inspect(engine).get_columns("rescore_runs")}
    engine.dispose()


def test_the_ray_pipeline_records_the_model_files_too(model_copy):
    from serving.rescore_ray import expected_provenance

    for prefer, decode in (("cpu", 512), ("gpu", None)):
        expected = expected_provenance(
            model_copy, prefer=prefer, num_gpus_per_actor=0, decode_short_side=decode
        )
        assert expected.model_artifact == artifact_digest(model_copy)
