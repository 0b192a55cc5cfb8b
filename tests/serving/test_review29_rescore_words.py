"""Re-scoring, review 29: the refusals name the way the caller re-scores, and no detour.

1. The Ray pipeline (`rescore_with_ray`, which no command starts) was told the CLI's ways: a
   refused call with retry_failed=True said "which --retry-failed scores again", the new run
   named for a promoted Ray run was a plain `shanyraq rescore --since DAY`, and the reason its
   actors record for a photo over the stored-photo limit named only `rescore --retry-failed`.
   Each now names the pipeline's call and arguments; `rescore`'s words are as they were.
2. A run a stopped promotion adopted in part, resumed under other settings, was refused naming
   a new --since run, which is refused until the promotion is finished ("finish the promotion
   first"): the first refusal now says to finish the promotion first, as the second does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving.db.models import Photo, RescoredScore
from serving.db.session import make_engine, make_session_factory
from serving.promote import promote
from serving.rescore import MISSING_FILE, rescore
from serving.rescore_ray_actor import ScoreBatch
from serving.rescore_runs import RescoreMixError, RescoreResumeError, since_key_of
from shanyraq.shell_words import word
from tests.serving.helpers import jpeg
from tests.serving.rescore_fixtures import (
    cpu_scorer,
    populate,
    stop_after_first_batch,
)
from tests.serving.rescore_helpers import (
    BIG,
    LOW,
    NEW_CODE,
    OLD_CODE,
    OUT_OF_MEMORY,
    RAISED,
    VERSION,
    cli_service,
    failed_ray_run,
    late_upload,
    new_code,
    record_promotion,
    stopped_ray_run,
)
from tests.serving.rescore_promote_helpers import (
    KEY,
    PROMOTE,
    half_promoted,
    promote_run,
    ray_rescore,
    scored_versions,
)
from tests.serving.rescore_ray_helpers import actor_kwargs, stored_batch
from tests.serving.rescore_store_helpers import LOST_DAY, runs_and_outcomes
from vision.artifact import read_artifact

# --- 1. the Ray pipeline's refusals name its call --------------------------------------------


def test_a_refused_ray_retry_names_the_pipeline_argument_and_a_new_ray_run(
    tmp_path: Path,
    model: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_ray: None,
) -> None:
    """A promoted Ray run under other code, asked to retry its failure: the refusal names
    retry_failed=True, not the CLI's option, and a new run of the pipeline from the failed
    photo's upload day (the CLI's run on one machine as the other way), and deletes nothing."""
    url, store_root, run_id = failed_ray_run(tmp_path, model, monkeypatch)
    engine = make_engine(url)
    record_promotion(engine, [run_id])
    new_code(monkeypatch, NEW_CODE)

    with pytest.raises(RescoreResumeError) as refused:
        ray_rescore(url, store_root, model, retry_failed=True)
    message = refused.value.message
    assert "the Ray pipeline's re-scoring run 1" in message
    assert "recorded without a score, which retry_failed=True scores again" in message
    assert "which --retry-failed" not in message
    assert (
        "start a new run, which scores only the photos no run has scored, and those recorded "
        "without a score: `rescore_with_ray(..., since=datetime(2026, 1, 2, tzinfo=UTC), "
        "retry_failed=True)`"
    ) in message
    assert "on one machine, `shanyraq rescore --model DIR --since 2026-01-02 --retry-failed`" in (
        message
    )
    assert message.endswith(f", then {PROMOTE}")
    with make_session_factory(engine)() as session:  # the discard rolled back
        kept = select(RescoredScore.error).where(RescoredScore.photo_id == 2)
        assert session.execute(kept).scalar_one() == OUT_OF_MEMORY
    engine.dispose()


@pytest.mark.parametrize(
    ("since", "call", "day"),
    [
        (None, "`rescore_with_ray(...)`", "datetime(2026, 1, 3, tzinfo=UTC)"),
        (
            datetime(2026, 1, 3, tzinfo=UTC),
            "`rescore_with_ray(..., since=datetime(2026, 1, 3, tzinfo=UTC))`",
            "datetime(2026, 1, 2, tzinfo=UTC)",  # its own day is its own key: the day before
        ),
        (
            datetime(2026, 1, 2, 12, tzinfo=UTC),
            "`rescore_with_ray(..., since=datetime.fromisoformat('2026-01-02T12:00:00+00:00'))`",
            "datetime(2026, 1, 3, tzinfo=UTC)",
        ),
    ],
    ids=["every-photo", "its-own-day", "a-moment"],
)
def test_an_unfinished_promoted_ray_run_names_the_pipeline_call_that_closes_it(
    tmp_path: Path,
    model: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_ray: None,
    since: datetime | None,
    call: str,
    day: str,
) -> None:
    """Reopened after a promotion and stopped, then the code updated: the refusal names the
    pipeline's own call (with the run's since) as what marks it finished, not "this command"
    of the CLI, and a new run of the pipeline on a day that is not the run's own key."""
    new_code(monkeypatch, OLD_CODE)
    _, url, store_root = cli_service(tmp_path, 3, model)
    done = [1, 2] if since is None else []  # photo 3 (2026-01-03) left to score
    run_id = stopped_ray_run(url, model, done, since=since)
    engine = make_engine(url)
    record_promotion(engine, [run_id])
    engine.dispose()
    new_code(monkeypatch, NEW_CODE)

    with pytest.raises(RescoreResumeError) as refused:
        ray_rescore(url, store_root, model, since=since)
    message = refused.value.message
    assert (
        "start a new run, which scores only the photos no run has scored: "
        f"`rescore_with_ray(..., since={day})`"
    ) in message
    assert (
        f"then call {call} again (with nothing left in its scope to score, it marks run "
        f"{run_id} finished, scoring nothing), then {PROMOTE}"
    ) in message
    assert "run this command again (with nothing left" not in message


def test_a_ray_actor_names_the_pipeline_retry_for_a_photo_over_the_stored_limit(
    tmp_path: Path,
    model: Path,
) -> None:
    """The reason recorded (and later listed by `rescore promote`) names how the pipeline
    scores it again, and the discard of the Ray run it was recorded by."""
    batch = stored_batch(tmp_path, 2)
    limit = {"max_pixels": 5_000, "read_max_pixels": 5_000}  # the photos are 96 x 72
    since_key = since_key_of(LOST_DAY, ray=True)  # the run's (`rescore_with_ray` hands it)
    actor = ScoreBatch(**actor_kwargs(tmp_path, model, "cpu") | limit, since_key=since_key)
    rows = actor(batch)
    assert rows["score"] == [None, None]
    for why in rows["error"]:
        assert why.startswith("the stored original is over the 0.005 MP limit"), why
        assert "io.stored_max_pixels" in why, why
        assert "`rescore_with_ray(..., retry_failed=True)`" in why, why
        assert "--retry-failed" not in why, why
        discard = f"`shanyraq rescore discard --model {word(model)} --ray --since 2026-01-02`"
        assert discard in why, why  # the folder the actor's scorer was opened from


@pytest.mark.slow
def test_following_the_pipeline_words_scores_the_failure_on_a_real_ray(
    tmp_path: Path,
    model: Path,
    local_ray: Any,
    limits: Callable[[int], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a real local Ray: the photo over the limit is recorded naming the pipeline's retry;
    after a promotion and an update, the refusal names a new pipeline run, which scores it,
    and the promotion adopts it."""
    new_code(monkeypatch, OLD_CODE)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store_root = tmp_path / "photos"
    photos = populate(url, store_root, 3, bad={BIG: jpeg(7, size=(200, 150))})
    sessions = make_session_factory(make_engine(url))

    def promote_run() -> int:
        report = promote(sessions, KEY, model_dir=model, serving_model_dir=model, actor="t")
        return report.updated

    limits(LOW)
    first = ray_rescore(url, store_root, model, batch_size=2, max_pixels=LOW)
    assert first.complete and (first.scored, first.failed) == (2, 1)
    with sessions() as session:
        why = session.execute(
            select(RescoredScore.error).where(RescoredScore.photo_id == photos.ids[BIG])
        ).scalar_one()
    assert "`rescore_with_ray(..., retry_failed=True)`" in why, why
    assert promote_run() == 2

    limits(RAISED)
    new_code(monkeypatch, NEW_CODE)
    with pytest.raises(RescoreResumeError) as refused:
        ray_rescore(url, store_root, model, batch_size=2, retry_failed=True)
    named = "`rescore_with_ray(..., since=datetime(2026, 1, 2, tzinfo=UTC), retry_failed=True)`"
    assert named in refused.value.message

    since = ray_rescore(url, store_root, model, batch_size=2, retry_failed=True,
                      since=datetime(2026, 1, 2, tzinfo=UTC))  # fmt: skip
    assert since.complete and since.retried == 1 and (since.scored, since.failed) == (1, 0)
    assert since.run_id != first.run_id
    assert promote_run() == 1
    assert scored_versions(url) == {VERSION}


# --- 2. a promotion stopped half-way: finish it first ----------------------------------------


def test_a_half_promoted_run_resumed_under_new_code_says_to_finish_the_promotion_first(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lost original restored after an update: the run's refusal says to finish the
    promotion first, then names the new run; following it ends with every photo promoted."""
    engine, stored, model, kept = half_promoted(tmp_path, database_url, monkeypatch)
    stored.store.put(kept)
    new_code(monkeypatch, NEW_CODE)
    before = runs_and_outcomes(engine)

    with pytest.raises(RescoreResumeError) as refused:
        rescore(engine, stored.store, cpu_scorer(model), progress=False)
    message = refused.value.message
    assert "A promotion stopped half-way adopted some of its scores, so it is kept" in message
    assert f"finish the promotion first: run {PROMOTE} again, which adopts the rest" in message
    assert (
        "; then, to score them under the current ones, start a new run, which scores only the "
        "photos no run has scored: `shanyraq rescore --model DIR --since 2026-01-02`, then "
        f"{PROMOTE}"
    ) in message
    assert message.index("finish the promotion first") < message.index("start a new run")
    assert runs_and_outcomes(engine) == before  # nothing discarded, the run not reopened

    # The detour the words led to before: the new run is refused until the promotion finishes.
    with pytest.raises(RescoreMixError, match="finish the promotion first"):
        rescore(engine, stored.store, cpu_scorer(model), since=LOST_DAY, progress=False)

    # Following the words: the promotion finishes, then the new run scores the restored photo.
    assert promote_run(engine, model) == 1
    since = rescore(engine, stored.store, cpu_scorer(model), since=LOST_DAY, progress=False)
    assert since.complete and since.restored == 1 and since.scored_now == 1
    assert promote_run(engine, model) == 1
    with make_session_factory(engine)() as session:
        versions = set(session.execute(select(Photo.model_version)).scalars())
    assert versions == {read_artifact(model).model_version}
    assert MISSING_FILE not in str(runs_and_outcomes(engine)[1])
    engine.dispose()


def test_a_half_promoted_run_with_a_late_upload_is_finished_as_started_before_the_promotion(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A photo uploaded since has no score: the promotion is refused until it has one, and no
    run under the new code may score it beside the outcomes left to adopt. The refusal says
    so: the run as it was started first (it scores the photo), then the promotion."""
    engine, stored, model, kept = half_promoted(tmp_path, database_url, monkeypatch)
    stored.store.put(kept)
    late_upload(database_url, stored.store, day=10, seed=1)
    new_code(monkeypatch, NEW_CODE)

    with pytest.raises(RescoreResumeError) as refused:
        rescore(engine, stored.store, cpu_scorer(model), progress=False)
    message = refused.value.message
    assert f"finish the promotion first: run {PROMOTE} again" in message
    assert (
        "it is refused while a photo uploaded since the run finished has no score under "
        f"{read_artifact(model).model_version}: then first run this command again as the run "
        "was started, which scores it"
    ) in message

    new_code(monkeypatch, OLD_CODE)  # as the run was started
    report = rescore(engine, stored.store, cpu_scorer(model), progress=False)
    assert report.complete and report.scored_now == 2  # the restored photo and the late one
    assert promote_run(engine, model) == 3
    engine.dispose()


def test_an_unfinished_half_promoted_run_is_finished_as_started_then_promoted(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reopened for two late photos and stopped after one, then the code updated: the refusal
    says to finish the run as it was started, then the promotion, as the refusal of a run
    under the new code does; no new run is named before that."""
    engine, stored, model, _ = half_promoted(tmp_path, database_url, monkeypatch)
    for day in (10, 11):
        late_upload(database_url, stored.store, day=day, seed=day)
    with pytest.raises(KeyboardInterrupt):
        rescore(engine, stored.store, cpu_scorer(model), batch_size=1, progress=False,
                on_batch=stop_after_first_batch)  # fmt: skip
    new_code(monkeypatch, NEW_CODE)

    with pytest.raises(RescoreResumeError) as refused:
        rescore(engine, stored.store, cpu_scorer(model), progress=False)
    message = refused.value.message
    assert (
        "finish it (run this command again as the run was started), then finish the "
        f"promotion: run {PROMOTE} again, which adopts the rest of its outcomes"
    ) in message
    assert "start a new run" not in message
    with pytest.raises(RescoreMixError) as mixed:
        rescore(engine, stored.store, cpu_scorer(model), since=LOST_DAY, progress=False)
    assert "then finish the promotion" in mixed.value.message
    engine.dispose()
