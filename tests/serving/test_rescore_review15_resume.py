"""Re-scoring, review 15: the model-files digest covers model_fp16.onnx where there is one,
and leaves the digest of a folder without one as it was, so a run resumed after one was added
is refused; a promoted run keeps its outcomes (it is not started over when reopened and
stopped), and is not reopened while another run holds other scores."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from serving.db.models import RescoredScore
from serving.db.session import make_session_factory
from serving.rescore import rescore
from serving.rescore_provenance import RunProvenance, artifact_digest
from serving.rescore_runs import RescoreMixError, RescoreRestartError, RescoreResumeError
from tests.serving.rescore_fixtures import DAY0, CountingScorer
from tests.serving.rescore_helpers import (
    Stop,
    late_upload,
    record_promotion,
    run_rows,
    stop,
    stored_with_scorer,
)

# --- 1. the digest covers model_fp16.onnx, where there is one ---------------------------------


def _digest_as_recorded_before_fp16(model: Path) -> str:
    """artifact_digest as runs recorded it before model_fp16.onnx was covered (golden)."""
    files = {
        name: hashlib.sha256((model / name).read_bytes()).hexdigest()
        for name in ("model.onnx", "model.json")
    }
    canonical = json.dumps(files, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def test_the_digest_covers_the_fp16_graph_and_is_unchanged_without_one(model_copy: Path) -> None:
    without = artifact_digest(model_copy)
    assert without == _digest_as_recorded_before_fp16(model_copy)  # older runs still match
    shutil.copyfile(model_copy / "model.onnx", model_copy / "model_fp16.onnx")
    with_fp16 = artifact_digest(model_copy)
    assert with_fp16 != without
    with (model_copy / "model_fp16.onnx").open("ab") as graph:
        graph.write(b"\0")  # another fp16 graph: the CUDA path would score otherwise
    assert artifact_digest(model_copy) not in (without, with_fp16)
    (model_copy / "model_fp16.onnx").unlink()
    assert artifact_digest(model_copy) == without


def test_a_resume_after_an_fp16_graph_was_added_is_refused(
    tmp_path: Path, model_copy: Path
) -> None:
    _, stored, engine, scorer = stored_with_scorer(tmp_path, model_copy, 4)

    with pytest.raises(Stop):
        rescore(engine, stored.store, scorer, batch_size=2, progress=False, on_batch=stop,
                model_dir=model_copy)  # fmt: skip
    shutil.copyfile(model_copy / "model.onnx", model_copy / "model_fp16.onnx")
    with pytest.raises(RescoreResumeError, match=r"model_fp16\.onnx"):
        rescore(engine, stored.store, scorer, batch_size=2, progress=False, model_dir=model_copy)
    engine.dispose()


# --- 2. a promoted run keeps its outcomes; a reopened one does not mix ------------------------


def test_a_promoted_run_reopened_and_stopped_is_not_started_over(
    tmp_path: Path, model_copy: Path
) -> None:
    """--restart deletes a run's outcomes: those a promotion adopted are the service's scores
    and its audit entry's digest, whatever state the run is in now."""
    url, stored, engine, scorer = stored_with_scorer(tmp_path, model_copy, 3)
    assert rescore(engine, stored.store, scorer, progress=False).complete
    record_promotion(engine, [1])
    for day in (10, 11):
        late_upload(url, stored.store, day=day, seed=day)
    with pytest.raises(Stop):  # reopened for the late photos, stopped after one
        rescore(engine, stored.store, scorer, batch_size=1, progress=False, on_batch=stop)
    other = dataclasses.replace(RunProvenance.of(scorer), code_version="9.9.9+000000000000")
    with pytest.raises(RescoreRestartError) as refused:
        rescore(engine, stored.store, scorer, progress=False, provenance=other, restart=True)
    assert "adopted its scores" in refused.value.message
    with pytest.raises(RescoreResumeError) as resumed:
        rescore(engine, stored.store, scorer, progress=False, provenance=other)
    assert "as the run was started" in resumed.value.message
    assert "--restart" not in resumed.value.message and "discard" not in resumed.value.message
    with make_session_factory(engine)() as session:
        assert len(session.execute(select(RescoredScore)).all()) == 4  # nothing deleted
    report = rescore(engine, stored.store, scorer, progress=False)  # as it was started
    assert report.complete and report.scored == 5
    engine.dispose()


def test_a_promoted_run_is_not_reopened_while_another_holds_other_scores(
    tmp_path: Path, model_copy: Path
) -> None:
    """Run 1 promoted; run 2 (--since, other code) scored a late photo, not promoted. Reopening
    run 1 for a later photo would put scores of both provenances under the version."""
    url, stored, engine, scorer = stored_with_scorer(tmp_path, model_copy, 3)
    assert rescore(engine, stored.store, scorer, progress=False).complete
    record_promotion(engine, [1])
    late = DAY0 + timedelta(days=10)
    late_upload(url, stored.store, day=10, seed=1)
    other = dataclasses.replace(RunProvenance.of(scorer), code_version="9.9.9+000000000000")
    report = rescore(engine, stored.store, scorer, since=late, progress=False, provenance=other)
    assert report.complete and report.this_session == 1
    late_upload(url, stored.store, day=11, seed=2)
    counting = CountingScorer(scorer)
    with pytest.raises(RescoreMixError) as refused:
        rescore(engine, stored.store, counting, progress=False)
    assert "re-scoring run 2 under test-0 (--since 2026-01-11, finished, not promoted)" in (
        refused.value.message
    )
    assert counting.seen == [] and [s for _, _, s in run_rows(url)] == ["done", "done"]
    engine.dispose()
