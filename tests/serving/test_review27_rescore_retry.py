"""Re-scoring, review 27: a photo a run recorded without a score, for a reason that does not
last (an error of the moment; a photo over the stored-photo limit, raised since), kept that
outcome for good. Only damage to the store was tried again (once restored); a finished run
scored nothing else, and after a promotion no command could score the photo: `rescore discard`
(which the too-large reason named) refuses a promoted run, and promotion counts the photo as
covered, so it stayed on the old model's score. `shanyraq rescore --retry-failed` now scores
such photos again, before a promotion and after it, and promotion says how the photos keeping
their old score get the new model's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from serving.db.models import AuditEntry, Photo, RescoredScore, RescoreRun
from serving.db.session import make_engine, make_session_factory
from serving.promote import promote
from serving.rescore import rescore
from serving.rescore_runs import RescoreResumeError
from shanyraq.cli import build_app
from tests.serving.helpers import jpeg
from tests.serving.rescore_fixtures import cpu_scorer, populate, tiny_model
from tests.serving.rescore_helpers import new_code
from vision.artifact import read_artifact

KEY = b"test-secret-key-0123456789abcdef"
OLD_CODE, NEW_CODE = "0.1.0+aaaaaaaaaaaa", "0.1.0+bbbbbbbbbbbb"
LOW = 10_000  # a limit the fixtures' 96 x 72 photos are under and BIG's 200 x 150 over
BIG = 1  # the index of the photo stored larger
SINCE_BIG = datetime(2026, 1, 2, tzinfo=UTC)  # its upload day (populate: DAY0 + index days)


def _stored(tmp_path: Path, database_url: str) -> Any:
    """3 photos on the old model, the second one's original 200 x 150 px."""
    return populate(database_url, tmp_path / "photos", 3, bad={BIG: jpeg(7, size=(200, 150))})


def _failed_counts(engine: Any) -> dict[int, int]:
    with make_session_factory(engine)() as session:
        return dict(session.execute(select(RescoreRun.id, RescoreRun.failed)).all())


def _outcome(engine: Any, photo_id: int) -> tuple[int, bool]:
    """(the run that recorded the photo's outcome, whether it holds a score)."""
    with make_session_factory(engine)() as session:
        row = session.execute(
            select(RescoredScore.run_id, RescoredScore.score).where(
                RescoredScore.photo_id == photo_id
            )
        ).one()
    return row[0], row[1] is not None


def _versions(engine: Any) -> set[str | None]:
    with make_session_factory(engine)() as session:
        return set(session.execute(select(Photo.model_version)).scalars())


def test_a_failure_is_scored_again_after_the_promotion_that_left_it_on_the_old_model(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_code(monkeypatch, OLD_CODE)
    model = tiny_model(tmp_path / "models")
    version = read_artifact(model).model_version
    photos = _stored(tmp_path, database_url)
    big = photos.ids[BIG]
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)

    def _promote() -> Any:
        return promote(sessions, KEY, model_dir=model, serving_model_dir=model, actor="t")

    first = rescore(engine, photos.store, cpu_scorer(model, max_pixels=LOW), progress=False)
    assert first.complete and (first.scored, first.failed) == (2, 1)
    promoted = _promote()
    assert promoted.updated == 2 and list(promoted.plan.kept_old) == [big]
    assert "io.stored_max_pixels" in promoted.plan.kept_old[big]
    assert "--retry-failed" in promoted.plan.kept_old[big]  # before: only `rescore discard`

    raised = cpu_scorer(model, max_pixels=50_000_000)  # the administrator raised the limit
    plain = rescore(engine, photos.store, raised, progress=False)
    assert plain.complete and plain.this_session == 0  # a plain call leaves the outcome
    retried = rescore(engine, photos.store, raised, progress=False, retry_failed=True)
    assert retried.complete and retried.retried == 1 and retried.reopened
    assert (retried.this_session, retried.scored_now, retried.failed_now) == (1, 1, 0)
    assert (retried.scored, retried.failed) == (3, 0)
    assert _outcome(engine, big) == (first.run_id, True)
    assert _promote().updated == 1
    assert _versions(engine) == {version}
    engine.dispose()


def test_after_an_update_the_refusal_names_the_new_run_that_retries_and_it_does(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The promoted run goes on only under the code it recorded: its refusal names a new
    --since run from the failed photo's day, given --retry-failed too, and changes nothing."""
    new_code(monkeypatch, OLD_CODE)
    model = tiny_model(tmp_path / "models")
    version = read_artifact(model).model_version
    photos = _stored(tmp_path, database_url)
    big = photos.ids[BIG]
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    first = rescore(engine, photos.store, cpu_scorer(model, max_pixels=LOW), progress=False)
    promote(sessions, KEY, model_dir=model, serving_model_dir=model, actor="t")
    new_code(monkeypatch, NEW_CODE)
    raised = cpu_scorer(model, max_pixels=50_000_000)

    with pytest.raises(RescoreResumeError) as refused:
        rescore(engine, photos.store, raised, progress=False, retry_failed=True)
    assert (
        "`shanyraq rescore --model DIR --since 2026-01-02 --retry-failed`, then "
        "`shanyraq rescore promote --model DIR`"
    ) in refused.value.message
    assert "recorded without a score, which --retry-failed scores again" in refused.value.message
    assert _outcome(engine, big) == (first.run_id, False)  # the discard rolled back
    assert _failed_counts(engine) == {first.run_id: 1}

    since = rescore(engine, photos.store, raised, since=SINCE_BIG, progress=False,
                    retry_failed=True)  # fmt: skip
    assert since.complete and since.retried == 1 and since.by_other_runs == 1
    assert (since.scored, since.failed, since.this_session) == (1, 0, 1)
    assert _outcome(engine, big) == (since.run_id, True)
    assert _failed_counts(engine) == {first.run_id: 0, since.run_id: 0}
    report = promote(sessions, KEY, model_dir=model, serving_model_dir=model, actor="t")
    assert report.updated == 1 and _versions(engine) == {version}
    engine.dispose()


def _config(tmp_path: Path, model: Path) -> tuple[Path, str]:
    """serving.yaml over a SQLite database of `_stored` photos; (its path, the database URL)."""
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'shanyraq.db'}"
    populate(url, data / "photos", 3, bad={BIG: jpeg(7, size=(200, 150))})
    config = tmp_path / "serving.yaml"
    config.write_text(
        f"data_dir: {data}\ndatabase_url: {url}\nmodel_dir: {model}\n"
        "secret_key: test-secret-key-0123456789abcdef-0123\n"
    )
    return config, url


def _run(*args: str | Path) -> Any:
    return CliRunner().invoke(build_app(), [str(arg) for arg in args])


def test_the_commands_say_how_a_failure_is_retried_and_audit_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limits: Callable[[int], None]
) -> None:
    new_code(monkeypatch, OLD_CODE)
    model = tiny_model(tmp_path / "models")
    config, url = _config(tmp_path, model)
    common = ("--model", model, "--config", config)
    rescore_cmd = ("rescore", *common, "--device", "cpu", "--no-progress")
    limits(LOW)
    assert _run(*rescore_cmd).exit_code == 0
    promoted = _run("rescore", "promote", *common, "--no-progress")
    assert promoted.exit_code == 0, promoted.output
    assert "keeping their old score (no score under this model): 1" in promoted.output
    assert (
        "they stay on the score they have until re-scored: 0 the photo store could not give"
    ) in promoted.output
    assert (
        f"1 for another reason (`shanyraq rescore --model DIR --retry-failed --config {config}`"
        in (promoted.output)
    )

    limits(50_000_000)
    retried = _run(*rescore_cmd, "--retry-failed")
    assert retried.exit_code == 0, retried.output
    assert "this session: 1 photo(s), 1 scored and 0 without a score" in retried.output
    assert "1 photo(s) recorded without a score tried again" in retried.output
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        details = (
            session.execute(
                select(AuditEntry.details)
                .where(AuditEntry.action == "photos_rescored")
                .order_by(AuditEntry.seq.desc())
            )
            .scalars()
            .first()
        )
    engine.dispose()
    assert details is not None
    assert (details["retried_failed"], details["scored_now"], details["scored"]) == (1, 1, 3)
    again = _run("rescore", "promote", *common, "--no-progress")
    assert again.exit_code == 0 and "updated now: 1 photo(s)" in again.output
