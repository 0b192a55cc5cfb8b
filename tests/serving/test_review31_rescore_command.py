"""Re-scoring, review 31: `shanyraq rescore --retry-failed`'s refusals, as the Ray pipeline's.

1. Refused for a finished run under other code, the command counted the run's outcomes after
   the retry had deleted its failures (in the transaction the refusal rolls back): "its 2
   outcome(s) are deleted", where the discard it names deletes 3; so did its refusal beside
   another run under other code whose failures the retry deleted too.
2. Refused only for a photo uploaded after its promoted run finished, the command named the
   new run for it without --retry-failed, and its reason without the photos recorded without a
   score, which the call was asked to score again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving.db.models import RescoredScore, RescoreRun
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.rescore_ray import expected_provenance
from serving.rescore_runs import since_key_of
from serving.storage import PhotoStore
from tests.serving.cli_helpers import error_code, run_cli
from tests.serving.rescore_command_helpers import (
    retry_run_named_scores_one,
    run_discard_named,
)
from tests.serving.rescore_helpers import (
    NEW_CODE,
    OLD_CODE,
    OUT_OF_MEMORY,
    VERSION,
    cli_service,
    late_upload,
    new_code,
)


def _rescore(model: Path, config: Path, *options: str) -> Any:
    return run_cli("rescore", "--model", model, "--config", config, "--device", "cpu",
                "--no-progress", *options)  # fmt: skip


def _failed(url: str, photo_id: int) -> None:
    """Photo `photo_id`'s outcome under the version made a failure (OUT_OF_MEMORY), its run's
    counts with it."""
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        outcome = session.scalars(
            select(RescoredScore).where(RescoredScore.photo_id == photo_id)
        ).one()
        outcome.score, outcome.error = None, OUT_OF_MEMORY
        run = session.get_one(RescoreRun, outcome.run_id)
        run.scored, run.failed = run.scored - 1, run.failed + 1
    engine.dispose()


# --- 1. the count a refusal gives is what the discard it names deletes -----------------------


def test_a_refused_retry_counts_the_outcomes_the_discard_deletes(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run 1 holds 3 outcomes (photo 2 without a score); the code updated, the retry is refused
    and names the discard with 3 outcomes, which the discard then deletes."""
    new_code(monkeypatch, OLD_CODE)
    config, url, _ = cli_service(tmp_path, 3, model)
    assert _rescore(model, config).exit_code == 0
    _failed(url, 2)
    new_code(monkeypatch, NEW_CODE)
    refused = _rescore(model, config, "--retry-failed")
    assert error_code(refused) == "rescore_resume_mismatch", refused.output
    said = refused.exception.message
    discard = f"`shanyraq rescore discard --model DIR --config {config}`"
    assert f"{discard} (its 3 outcome(s) are deleted)" in said
    assert run_discard_named(said, model, config) == (2, 1)


def test_a_refused_retry_counts_the_outcomes_of_the_other_run_it_names(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run 1 of the command (the current code, finished) scored photos 1 and 2; the Ray
    pipeline's run 2 (old code, finished, not promoted) photo 3, and photo 4 without a score.
    The retry discards photo 4's outcome to score it again, then is refused beside run 2,
    whose discard it names with the 2 outcomes that discard deletes."""
    new_code(monkeypatch, NEW_CODE)
    config, url, store_root = cli_service(tmp_path, 2, model)
    assert _rescore(model, config).exit_code == 0
    for day in (10, 11):
        late_upload(url, PhotoStore(store_root), day=day, seed=day)
    new_code(monkeypatch, OLD_CODE)
    old = expected_provenance(model, prefer="cpu", num_gpus_per_actor=0, decode_short_side=None)
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        ray_run = RescoreRun(model_version=VERSION, since_key=since_key_of(None, ray=True),
                             status="done", scored=1, failed=1)  # fmt: skip
        old.record(ray_run)
        session.add(ray_run)
        session.flush()
        session.add_all([
            RescoredScore(photo_id=3, model_version=VERSION, run_id=ray_run.id, score={"m": 3}),
            RescoredScore(photo_id=4, model_version=VERSION, run_id=ray_run.id,
                          error=OUT_OF_MEMORY),
        ])  # fmt: skip
    engine.dispose()
    new_code(monkeypatch, NEW_CODE)
    refused = _rescore(model, config, "--retry-failed")
    assert error_code(refused) == "rescore_provenance_conflict", refused.output
    said = refused.exception.message
    assert "re-scoring run 2 under test-0 (finished, not promoted) holds 2 outcome(s)" in said
    discard = f"`shanyraq rescore discard --model DIR --ray --config {config}`"
    assert f"{discard} (its 2 outcome(s) are deleted)" in said
    assert run_discard_named(said, model, config) == (1, 1)


# --- 2. a refusal for a late upload names the new run with --retry-failed ----------------------


def test_a_retry_refused_for_a_late_upload_names_the_new_run_with_retry_failed(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run 1 scored every photo (nothing to retry) and was promoted, a photo was uploaded
    since, the code was updated: `rescore --retry-failed` is refused, and the new run it names
    carries --retry-failed; followed, it scores the late photo."""
    new_code(monkeypatch, OLD_CODE)
    config, url, store_root = cli_service(tmp_path, 3, model)
    assert _rescore(model, config).exit_code == 0
    promoted = run_cli("rescore", "promote", "--model", model, "--config", config, "--no-progress")
    assert promoted.exit_code == 0, promoted.output
    late_upload(url, PhotoStore(store_root), day=10, seed=1)
    new_code(monkeypatch, NEW_CODE)
    refused = _rescore(model, config, "--retry-failed")
    assert error_code(refused) == "rescore_resume_mismatch", refused.output
    said = refused.exception.message
    assert "recorded without a score, which --retry-failed scores again" in said
    retry_run_named_scores_one(said, "2026-01-11", model, config)
