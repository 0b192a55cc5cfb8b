"""The Ray pipeline, review 28: a photo its run recorded without a score for a reason that does
not last (a photo over the stored-photo limit, raised since; an error of the moment) kept that
outcome for good under the pipeline, which had no way to score it again: only
`shanyraq rescore --retry-failed`, and only where the Ray run's settings let a plain run write.
`rescore_with_ray(..., retry_failed=True)` now discards those outcomes in its scope and scores
the photos again, as `rescore` does, and a refusal rolls the discard back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving.db.models import RescoredScore, RescoreRun
from serving.db.session import make_engine, make_session_factory
from serving.rescore_ray import rescore_with_ray
from serving.rescore_runs import RescoreResumeError
from tests.serving.helpers import jpeg
from tests.serving.rescore_fixtures import populate
from tests.serving.rescore_helpers import (
    BIG,
    LOW,
    NEW_CODE,
    OLD_CODE,
    RAISED,
    VERSION,
    NoRay,
    failed_ray_run,
    new_code,
)


def _outcomes(url: str) -> dict[int, tuple[int, bool]]:
    """Each photo's outcome under the version: (the run that recorded it, holds a score)."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(
                select(RescoredScore.photo_id, RescoredScore.run_id, RescoredScore.score).where(
                    RescoredScore.model_version == VERSION
                )
            ).all()
        return {photo_id: (run_id, score is not None) for photo_id, run_id, score in rows}
    finally:
        engine.dispose()


def _run_state(url: str, run_id: int) -> tuple[str, int]:
    """(status, failed count) of the run."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            run = session.get_one(RescoreRun, run_id)
            return run.status, run.failed
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_failure_is_scored_again_with_retry_failed_and_not_without(
    tmp_path: Path,
    model: Path,
    local_ray: Any,
    limits: Callable[[int], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a real local Ray: the photo over the limit fails; with the limit raised, a plain call
    leaves its outcome (the run is done), and a call with retry_failed scores it."""
    new_code(monkeypatch, OLD_CODE)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store_root = tmp_path / "photos"
    photos = populate(url, store_root, 3, bad={BIG: jpeg(7, size=(200, 150))})
    big = photos.ids[BIG]

    def pipeline(**kwargs: Any) -> Any:
        return rescore_with_ray(
            url, store_root, model, model_version=VERSION, batch_size=2, prefer="cpu",
            max_pixels=LOW, **kwargs,
        )  # fmt: skip

    limits(LOW)
    first = pipeline()
    assert first.complete and (first.scored, first.failed, first.retried) == (2, 1, 0)
    assert _outcomes(url)[big] == (first.run_id, False)

    limits(RAISED)  # the administrator raised io.stored_max_pixels
    plain = pipeline()
    assert plain.complete and plain.written_now == 0 and plain.retried == 0
    assert (plain.scored, plain.failed) == (2, 1)
    assert _outcomes(url)[big] == (first.run_id, False)  # a plain call leaves the outcome

    retried = pipeline(retry_failed=True)
    assert (retried.run_id, retried.retried, retried.written_now) == (first.run_id, 1, 1)
    assert retried.complete and (retried.scored, retried.failed) == (3, 0)
    assert _outcomes(url) == {i: (first.run_id, True) for i in photos.ids}
    assert _run_state(url, first.run_id) == ("done", 0)


def test_a_refused_retry_rolls_its_discard_back_and_starts_no_ray(
    tmp_path: Path,
    model: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A finished run recorded under other code reopens for its failures only under that code:
    the refusal says why and deletes nothing; without retry_failed the same call has nothing
    to score and is not refused."""
    url, store_root, run_id = failed_ray_run(tmp_path, model, monkeypatch)
    new_code(monkeypatch, NEW_CODE)
    monkeypatch.setattr("serving.rescore_ray._ray", lambda: NoRay())

    def pipeline(**kwargs: Any) -> Any:
        return rescore_with_ray(url, store_root, model, model_version=VERSION, prefer="cpu",
                                max_pixels=RAISED, **kwargs)  # fmt: skip

    with pytest.raises(RescoreResumeError) as refused:
        pipeline(retry_failed=True)
    assert "recorded without a score" in refused.value.message
    assert "`shanyraq rescore discard --model DIR --ray`" in refused.value.message
    assert _outcomes(url) == {1: (run_id, True), 2: (run_id, False), 3: (run_id, True)}
    assert _run_state(url, run_id) == ("done", 1)  # the discard rolled back

    plain = pipeline()
    assert plain.complete and plain.written_now == 0 and plain.retried == 0
    assert _outcomes(url)[2] == (run_id, False)
