"""Re-scoring: each photo in scope scored exactly once, resumable after SIGKILL, old scores kept."""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from serving.db.models import AuditEntry, Photo
from serving.db.session import make_engine, make_session_factory
from serving.rescore import RescoreRun, rescore, scores_for
from shanyraq import provenance
from shanyraq.cli import build_app
from tests.serving.helpers import ROOT
from tests.serving.rescore_fixtures import (
    DAY0,
    OLD_VERSION,
    CountingScorer,
    cli_config,
    populate,
    tiny_model,
)
from tests.serving.subprocess_runs import pinned_command
from vision.bulk import CpuBytesScorer, PhotoBytes, open_scorer

MAX_PIXELS = 50_000_000


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def scorer(model):
    return open_scorer(model, prefer="cpu", max_pixels=MAX_PIXELS, decode_short_side=1024)


def _scores(url, version):
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        rows = scores_for(session, version)
        runs = session.execute(select(RescoreRun)).scalars().all()
        photos = {
            p.id: (p.score, p.model_version) for p in session.execute(select(Photo)).scalars()
        }
    engine.dispose()
    return rows, runs, photos


def test_scores_every_photo_once_and_keeps_old_scores(tmp_path, database_url, scorer):
    stored = populate(database_url, tmp_path / "photos", 13)
    engine = make_engine(database_url)
    counting = CountingScorer(scorer)
    report = rescore(engine, stored.store, counting, batch_size=4, progress=False)
    assert report.complete and not report.resumed
    assert (report.in_scope, report.scored, report.failed, report.this_session) == (13, 13, 0, 13)
    assert sorted(counting.seen) == stored.ids  # each photo sent to the model once
    rows, _, photos = _scores(database_url, scorer.model_version)
    assert sorted(rows) == stored.ids
    # The old scores are untouched: the service's record still names the old model.
    assert all(score["model_version"] == OLD_VERSION for score, _ in photos.values())
    assert {version for _, version in photos.values()} == {OLD_VERSION}

    again = rescore(engine, stored.store, counting, batch_size=4, progress=False)
    assert again.complete and again.this_session == 0 and len(counting.seen) == 13
    engine.dispose()


def test_recorded_score_is_what_the_engine_says(tmp_path, scorer):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored = populate(url, tmp_path / "photos", 3)
    engine = make_engine(url)
    rescore(engine, stored.store, scorer, batch_size=2, progress=False)
    rows, _, _ = _scores(url, scorer.model_version)
    with make_session_factory(engine)() as session:
        photo = session.get_one(Photo, stored.ids[1])
        item = PhotoBytes(photo.id, photo.sha256, stored.store.read(photo.sha256))
    direct = scorer.infer(scorer.prepare([item]))[0].score
    recorded = rows[stored.ids[1]].score
    assert recorded["photo_sha256"] == photo.sha256
    assert recorded["room"] == pytest.approx(direct.room, abs=1e-6)
    assert recorded["condition"] == pytest.approx(
        {str(k): v for k, v in direct.condition.items()}, abs=1e-6
    )
    engine.dispose()


def test_new_model_version_adds_scores_beside_the_previous(tmp_path, tmp_path_factory, scorer):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored = populate(url, tmp_path / "photos", 5)
    engine = make_engine(url)
    second = open_scorer(
        tiny_model(tmp_path_factory.mktemp("m2"), seed=1), prefer="cpu", max_pixels=MAX_PIXELS
    )
    assert second.model_version != scorer.model_version
    rescore(engine, stored.store, scorer, batch_size=2, progress=False)
    rescore(engine, stored.store, second, batch_size=2, progress=False)
    first_rows, runs, _ = _scores(url, scorer.model_version)
    second_rows, _, _ = _scores(url, second.model_version)
    assert sorted(first_rows) == sorted(second_rows) == stored.ids
    assert {r.model_version for r in runs} == {scorer.model_version, second.model_version}
    engine.dispose()


def test_since_limits_the_scope_and_is_its_own_run(tmp_path, scorer):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored = populate(url, tmp_path / "photos", 6)
    engine = make_engine(url)
    since = DAY0 + timedelta(days=4)
    report = rescore(engine, stored.store, scorer, since=since, batch_size=4, progress=False)
    rows, _, _ = _scores(url, scorer.model_version)
    expected = [pid for pid in stored.ids if stored.created[pid] >= since]
    assert sorted(rows) == expected and len(expected) == 2
    assert report.in_scope == 2 and report.complete
    everything = rescore(engine, stored.store, scorer, batch_size=4, progress=False)
    # A wider run scores the rest; the photos already scored under this version are kept.
    assert everything.complete and everything.scored == everything.this_session == 4
    rows, _, _ = _scores(url, scorer.model_version)
    assert sorted(rows) == stored.ids
    engine.dispose()


def test_unreadable_photos_are_recorded_with_a_reason_not_skipped(tmp_path, scorer):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    corrupt = b"\xff\xd8\xff\xe0" + b"\x00" * 64  # a JPEG header and nothing decodable
    stored = populate(url, tmp_path / "photos", 5, bad={1: corrupt, 3: b""})
    engine = make_engine(url)
    report = rescore(engine, stored.store, scorer, batch_size=2, progress=False)
    assert (report.scored, report.failed) == (3, 2)
    rows, _, _ = _scores(url, scorer.model_version)
    assert sorted(rows) == stored.ids
    assert rows[stored.ids[1]].score is None and "JPEG" in rows[stored.ids[1]].error
    assert rows[stored.ids[3]].score is None and "missing" in rows[stored.ids[3]].error
    assert {pid for pid, _ in report.failures} == {stored.ids[1], stored.ids[3]}
    engine.dispose()


_CHILD = """
import sys
from pathlib import Path

from sqlalchemy import event
from serving.db.session import make_engine
from serving.rescore import rescore
from serving.storage import PhotoStore
from vision.bulk import open_scorer

url, store_root, model = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
freeze_at = int(sys.argv[4])
engine = make_engine(url)
batches = []

@event.listens_for(engine, "before_cursor_execute")
def _note_batch(connection, cursor, statement, *args):
    if statement.lstrip().upper().startswith("INSERT INTO RESCORE_SCORES"):
        connection.info["batch"] = True

@event.listens_for(engine, "commit")
def _freeze(connection):
    # Fires before the database commits: the batch's rows are written but not yet durable.
    if connection.info.pop("batch", False):
        batches.append(1)
        if len(batches) == freeze_at:
            print("FROZEN", flush=True)
            sys.stdin.readline()  # wait here until the parent kills this process

scorer = open_scorer(model, prefer="cpu", max_pixels=50_000_000, decode_short_side=1024)
rescore(engine, PhotoStore(store_root), scorer, batch_size=3, progress=False)
print("FINISHED", flush=True)
"""


@pytest.mark.slow
def test_sigkill_mid_batch_then_resume_scores_each_photo_exactly_once(tmp_path, model, scorer):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored = populate(url, tmp_path / "photos", 14)
    # Batches 1 and 2 commit; the child freezes inside batch 3's transaction and is killed.
    # The child runs under this test's code version: it would read the tree itself, and a file
    # of the checkout changed before this test's own read would refuse the resume.
    code = provenance.code_version()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_ALBUMENTATIONS_UPDATE": "1"}
    command = pinned_command(
        _CHILD, url, str(tmp_path / "photos"), str(model), "3", code_version=code
    )
    child = subprocess.Popen(
        command,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, cwd=ROOT,
    )  # fmt: skip
    assert child.stdout and child.stderr and child.stdin
    try:
        line = child.stdout.readline()
        assert line.strip() == "FROZEN", child.stderr.read()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
        child.stdout.close()
        child.stderr.close()
        child.stdin.close()
    assert child.returncode == -signal.SIGKILL

    rows, runs, _ = _scores(url, scorer.model_version)
    assert len(rows) == 6  # batches 1 and 2 are durable; batch 3 died uncommitted
    assert runs[0].status == "running" and runs[0].last_photo_id == stored.ids[5]
    assert runs[0].code_version == code  # the child started the run under the pinned version

    engine = make_engine(url)
    counting = CountingScorer(scorer)
    report = rescore(engine, stored.store, counting, batch_size=3, progress=False)
    assert report.resumed and report.complete
    assert report.provenance is not None and report.provenance.code_version == code
    assert sorted(counting.seen) == stored.ids[6:]  # nothing re-scored, nothing skipped
    assert (report.scored, report.this_session) == (14, 8)
    rows, runs, _ = _scores(url, scorer.model_version)
    assert sorted(rows) == stored.ids
    assert runs[0].status == "done"
    engine.dispose()


def test_cli_rescores_reports_and_audits(tmp_path, model):
    config = cli_config(tmp_path, 4)
    url = f"sqlite:///{tmp_path / 'data' / 'shanyraq.db'}"
    app = build_app()  # `shanyraq rescore --model DIR` as before, now beside `rescore promote`
    args = [
        "rescore", "--model", str(model), "--config", str(config), "--device", "cpu",
        "--no-progress",
    ]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    assert "complete" in result.output and "scored: 4" in result.output
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        actions = session.execute(select(AuditEntry.action)).scalars().all()
    assert actions.count("photos_rescored") == 1
    bad = CliRunner().invoke(app, [*args, "--since", "01/02/2026"])
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output
    engine.dispose()


def test_cpu_is_chosen_without_a_gpu(model):
    from vision.gpu import gpu_usable

    if gpu_usable()[0]:
        pytest.skip("a GPU is usable here; the fallback is not exercised")
    assert isinstance(open_scorer(model, max_pixels=MAX_PIXELS), CpuBytesScorer)
