"""Re-scoring, review 31: the Ray pipeline's refusals with retry_failed, and the promotion after
`rescore promote --adopt-rest`.

1. With retry_failed=True, the pipeline's refusal of a finished run under other code counted
   the run's outcomes after the retry had deleted its failures (in the transaction the refusal
   rolls back): "its 2 outcome(s) are deleted", where the discard it names deletes 3; so did
   its refusal beside another run under other code whose failures the retry deleted too.
2. A call given retry_failed=True, refused only for a photo uploaded after its run finished,
   named the call without retry_failed=True.
3. An unfinished run a promotion stopped half-way adopted in part, the code updated: after
   `rescore promote --adopt-rest` and the new run it names, "then promote again" was refused
   (rescore_incomplete: run 1 again to finish it, which marked it finished, scoring nothing),
   and a second promotion succeeded. A run a promotion adopted whole, with nothing in its
   scope left to score, is finished in all but its status: the promotion goes on, and marks it
   finished.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving.db.models import RescoredScore, RescoreRun
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.rescore_discard import discard_run
from serving.rescore_ray import expected_provenance, rescore_with_ray
from serving.rescore_runs import RescoreMixError, RescoreResumeError, since_key_of
from serving.storage import PhotoStore
from tests.serving.cli_helpers import error_code, run_cli
from tests.serving.rescore_command_helpers import follow_command
from tests.serving.rescore_helpers import (
    ADOPT_REST_WALK,
    MAX_PIXELS,
    NEW_CODE,
    OLD_CODE,
    VERSION,
    cli_service,
    failed_ray_run,
    late_upload,
    new_code,
    on_model,
    promotions,
    stopped_ray_run,
    unfinished_half_promoted,
)


def _pipeline(url: str, store_root: Path, model: Path, **options: Any) -> Any:
    return rescore_with_ray(url, store_root, model, model_version=VERSION, prefer="cpu",
                            max_pixels=MAX_PIXELS, **options)  # fmt: skip


# --- 1. the count a refusal gives is what the discard it names deletes -----------------------


def test_a_refused_retry_counts_the_outcomes_the_discard_deletes(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch, no_ray: None
) -> None:
    """Run 1 holds 3 outcomes (photo 2 without a score); the code updated, the retry is refused
    and names the discard with 3 outcomes, which the discard then deletes."""
    url, store_root, run_id = failed_ray_run(tmp_path, model, monkeypatch)
    new_code(monkeypatch, NEW_CODE)
    with pytest.raises(RescoreResumeError) as refused:
        _pipeline(url, store_root, model, retry_failed=True)
    assert (
        "discard it with `shanyraq rescore discard --model DIR --ray` (its 3 outcome(s) are "
        "deleted)"
    ) in refused.value.message

    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        gone = discard_run(session, VERSION, since_key_of(None, ray=True))
    engine.dispose()
    assert (gone.run_id, gone.discarded_scored + gone.discarded_failed) == (run_id, 3)


def test_a_refused_retry_counts_the_outcomes_of_the_other_run_it_names(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch, no_ray: None
) -> None:
    """The pipeline's run 1 (new code, finished) holds photos 1 and 2; run 2 of `rescore` (old
    code, finished, not promoted) photo 3 scored and photo 4 without a score. The retry
    discards photo 4's outcome to score it again, then is refused beside run 2, whose discard
    it names with the 2 outcomes that discard deletes."""
    _, url, store_root = cli_service(tmp_path, 4, model)
    provenance = {}
    for code in (OLD_CODE, NEW_CODE):
        new_code(monkeypatch, code)
        provenance[code] = expected_provenance(model, prefer="cpu", num_gpus_per_actor=0,
                                               decode_short_side=None)  # fmt: skip
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        for key, code, scored in ((since_key_of(None, ray=True), NEW_CODE, 2), ("", OLD_CODE, 1)):
            run = RescoreRun(model_version=VERSION, since_key=key, status="done", scored=scored)
            provenance[code].record(run)
            session.add(run)
        session.flush()
        session.add_all(
            RescoredScore(photo_id=i, model_version=VERSION, run_id=run_id, score=score,
                          error=None if score else "an error of the moment")
            for i, run_id, score in ((1, 1, {"m": 1}), (2, 1, {"m": 2}), (3, 2, {"m": 3}),
                                     (4, 2, None))
        )  # fmt: skip
        session.get_one(RescoreRun, 2).failed = 1
    engine.dispose()
    with pytest.raises(RescoreMixError) as refused:
        _pipeline(url, store_root, model, retry_failed=True)
    message = refused.value.message
    assert "re-scoring run 2 under test-0 (finished, not promoted) holds 2 outcome(s)" in message
    assert "`shanyraq rescore discard --model DIR` (its 2 outcome(s) are deleted)" in message


# --- 2. a refusal for a late upload names the call as it was made ------------------------------


def test_a_retry_refused_for_a_late_upload_names_the_call_with_retry_failed(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch, no_ray: None
) -> None:
    """Run 1 scored every photo (nothing to retry), a photo was uploaded since, the code was
    updated: the call with retry_failed=True is refused, and named again with it."""
    new_code(monkeypatch, OLD_CODE)
    _, url, store_root = cli_service(tmp_path, 3, model)
    stopped_ray_run(url, model, [1, 2, 3], done=True)
    late_upload(url, PhotoStore(store_root), day=10, seed=1)
    new_code(monkeypatch, NEW_CODE)
    with pytest.raises(RescoreResumeError) as refused:
        _pipeline(url, store_root, model, retry_failed=True)
    message = refused.value.message
    call = "`rescore_with_ray(..., retry_failed=True)`"
    assert f"and call {call} again, which scores every photo anew; or call {call} again" in (
        message
    )
    assert "`rescore_with_ray(...)`" not in message


# --- 3. the unfinished half-promoted run: the walk through the command line -------------------


def test_the_unfinished_half_promoted_run_ends_in_the_promotion_its_words_name(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the new run's refusal, each command the last message names is run in turn: the
    promotion with --adopt-rest stops for the late photo and names a new run, "then promote
    again"; after that run, that promotion adopts the late photo, with no refusal naming a
    step the message before left out (the unfinished run 1 had to be run again first)."""
    config, url = unfinished_half_promoted(tmp_path, model, monkeypatch)
    refused = run_cli("rescore", "--model", model, "--config", config, "--since", "2026-01-11",
                   "--device", "cpu", "--no-progress")  # fmt: skip
    assert error_code(refused) == "rescore_provenance_conflict", refused.output
    said = refused.exception.message
    adopt_rest = f"`shanyraq rescore promote --model DIR --adopt-rest --config {config}`"
    _, stopped = follow_command(said[said.index(adopt_rest) :], model, config)
    assert error_code(stopped) == "rescore_scope_partial", stopped.output
    message = stopped.exception.message
    assert message.endswith(", then promote again"), message
    command, scored = follow_command(message, model, config)
    assert "--since 2026-01-11" in command and scored.exit_code == 0, scored.output
    promoted = run_cli("rescore", "promote", "--model", model, "--config", config, "--no-progress")
    assert promoted.exit_code == 0, (error_code(promoted), promoted.output)

    assert promotions(url) == ADOPT_REST_WALK
    assert on_model(url) == {1, 2, 3, 4}
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        # Checked by a finished promotion, run 1 is marked finished as that promotion found it.
        assert session.get_one(RescoreRun, 1).status == "done"
    engine.dispose()
    assert run_cli("audit", "verify", "--config", config).exit_code == 0


def test_the_promotion_still_refuses_an_unfinished_run_with_a_photo_left_to_score(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --adopt-rest, the unfinished run 1 whose late photo no run scored is refused as
    before: it is not finished in all but its status."""
    config, _ = unfinished_half_promoted(tmp_path, model, monkeypatch)
    refused = run_cli("rescore", "promote", "--model", model, "--config", config, "--no-progress")
    assert error_code(refused) == "rescore_incomplete", refused.output
