"""Re-scoring, review 32: what a promotion counts.

A promotion named as adopted every run of a batch as soon as one photo of the batch took a
score, also a run all of whose photos in it another process had put on the model meanwhile
(their update changed nothing); the audit entry's `run_ids` now names the runs at least one
photo took its score from in this promotion, with how many photos each gave
(`updated_by_run`). And marking finished the runs a promotion checked read the promotions'
audit entries once for each run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

import serving.promote as promotion
import serving.rescore_reopened as reopened
from serving.db.models import Photo, RescoredScore, RescoreRun
from serving.db.session import session_scope
from serving.rescore_reopened import finish_covered
from tests.serving.rescore_fixtures import (
    PROMOTED,
    promote_by_cli,
    promotion_entries,
)
from vision.artifact import read_artifact


def _put_on_model(sessions: Any, version: str, run_id: int) -> None:
    """Another process puts the photos of run `run_id` on `version`, with the run's scores."""
    with session_scope(sessions) as session:
        rows = session.execute(
            select(RescoredScore.photo_id, RescoredScore.score).where(
                RescoredScore.run_id == run_id
            )
        ).all()
        for photo_id, score in rows:
            session.execute(
                update(Photo).where(Photo.id == photo_id).values(score=score, model_version=version)
            )


def test_a_run_whose_photos_another_process_adopted_is_not_counted_as_adopted(
    two_runs: Any, models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One batch holds photos 1-6: run 1's four and run 2's two, which another process puts on
    the model between the batch's listing and its update. The promotion updated run 1's four
    only: run 2 gave it none."""
    _, new = models
    services = two_runs.services
    version = read_artifact(new).model_version
    apply, calls = promotion._apply, []

    def another_process_first(sessions: Any, page: list[Any], model_version: str) -> int:
        if not calls:
            _put_on_model(sessions, model_version, 2)
        calls.append(len(page))
        return apply(sessions, page, model_version)

    monkeypatch.setattr(promotion, "_apply", another_process_first)
    report = promote_by_cli(services, new)

    assert report.updated == 4 and report.plan.run_ids == [1, 2]
    assert report.adopted_runs == [1]
    assert report.updated_by_run == {1: 4}
    [(action, details)] = promotion_entries(services.sessions)
    assert action == PROMOTED and details["updated"] == 4
    assert details["run_ids"] == [1] and details["runs_checked"] == [1, 2]
    assert details["updated_by_run"] == {"1": 4}
    with services.sessions() as session:
        on_model = session.scalars(select(Photo.id).where(Photo.model_version == version))
        assert sorted(on_model) == [1, 2, 3, 4, 5, 6]


def test_each_run_is_counted_with_the_photos_it_gave(
    two_runs: Any, models: tuple[Path, Path]
) -> None:
    """Without another process, both runs gave photos: each is named with its count."""
    _, new = models
    report = promote_by_cli(two_runs.services, new, batch_size=4)
    assert report.updated == 6 and report.adopted_runs == [1, 2]
    assert report.updated_by_run == {1: 4, 2: 2}
    [(_, details)] = promotion_entries(two_runs.services.sessions)
    assert details["run_ids"] == [1, 2] and details["updated_by_run"] == {"1": 4, "2": 2}


def test_runs_checked_are_finished_reading_the_promotions_once(
    two_runs: Any, models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs 1 and 2, both adopted whole, reopened and stopped with nothing left to score: the
    promotion marks both finished, reading which runs were promoted once, not once a run."""
    _, new = models
    services = two_runs.services
    promote_by_cli(services, new)
    with session_scope(services.sessions) as session:
        for run in session.scalars(select(RescoreRun)):
            run.status = "running"  # reopened, then stopped before scoring anything

    reads: list[str] = []
    promoted_runs = reopened.promoted_runs

    def counted(session: Any, model_version: str) -> set[int]:
        reads.append(model_version)
        return promoted_runs(session, model_version)

    monkeypatch.setattr(reopened, "promoted_runs", counted)
    with session_scope(services.sessions) as session:
        assert finish_covered(session, [1, 2]) == [1, 2]
    assert len(reads) == 1, reads
    with services.sessions() as session:
        statuses = session.scalars(select(RescoreRun.status).order_by(RescoreRun.id))
        assert list(statuses) == ["done", "done"]
