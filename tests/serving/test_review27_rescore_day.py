"""Re-scoring, review 27: after an update of the code, a promoted run whose scope held an
original restored to the store (store damage repaired) refused to go on, rightly, but the new
run its refusal named was `rescore --since DAY (the upload day of the first photo still to
score)`: the settings were checked before the restored photo's damage outcome was discarded,
so no photo was found still to score. The refusal now names the restored photo's upload day,
and deletes and changes nothing; the run it names scores the photo, and promotion adopts it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving.db.models import Photo
from serving.db.session import make_engine, make_session_factory
from serving.promote import promote
from serving.rescore import MISSING_FILE, rescore
from serving.rescore_discard import RescoreDiscardError, discard_run
from serving.rescore_runs import RescoreResumeError
from tests.serving.rescore_fixtures import populate, tiny_model
from tests.serving.rescore_helpers import late_upload, new_code
from tests.serving.rescore_ray_helpers import FakeRay, ray_pipeline
from tests.serving.rescore_store_helpers import LOST, LOST_DAY, runs_and_outcomes
from vision.artifact import read_artifact
from vision.bulk import open_scorer

KEY = b"test-secret-key-0123456789abcdef"
OLD_CODE, NEW_CODE = "0.1.0+aaaaaaaaaaaa", "0.1.0+bbbbbbbbbbbb"


def _scorer(model: Path) -> Any:
    return open_scorer(model, prefer="cpu", max_pixels=50_000_000, decode_short_side=1024)


def _promoted_with_a_lost_original(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, *, ray: bool = False
) -> tuple[Any, Any, Path, int, bytes]:
    """3 photos scored under the old code (`ray`: by the Ray pipeline), the second one's
    original missing, and promoted; (engine, stored photos, model, the lost photo's id, its
    bytes to restore)."""
    new_code(monkeypatch, OLD_CODE)
    model = tiny_model(tmp_path / "models")
    stored = populate(database_url, tmp_path / "photos", 3)
    engine = make_engine(database_url)
    lost = stored.ids[LOST]
    with make_session_factory(engine)() as session:
        sha256 = session.get_one(Photo, lost).sha256
    path = stored.store.path_for(sha256)
    kept = path.read_bytes()
    path.unlink()
    if ray:
        first: Any = ray_pipeline(monkeypatch, FakeRay(), database_url, tmp_path / "photos", model)
    else:
        first = rescore(engine, stored.store, _scorer(model), progress=False)
    assert (first.scored, first.failed, first.store_damaged) == (2, 1, 1)
    sessions = make_session_factory(engine)
    assert promote(sessions, KEY, model_dir=model, serving_model_dir=model, actor="t").updated == 2
    return engine, stored, model, lost, kept


def test_a_restored_original_after_an_update_is_refused_naming_its_upload_day(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, stored, model, lost, kept = _promoted_with_a_lost_original(
        tmp_path, database_url, monkeypatch
    )
    stored.store.put(kept)  # restored from a backup ...
    new_code(monkeypatch, NEW_CODE)  # ... after the service was updated
    before = runs_and_outcomes(engine)
    assert before[1][LOST] == (lost, 1, MISSING_FILE)

    with pytest.raises(RescoreResumeError) as refused:
        rescore(engine, stored.store, _scorer(model), progress=False)
    message = refused.value.message
    assert "DAY" not in message, message
    assert (
        "start a new run, which scores only the photos no run has scored: `shanyraq rescore "
        "--model DIR --since 2026-01-02`, then `shanyraq rescore promote --model DIR`"
    ) in message
    assert runs_and_outcomes(engine) == before  # nothing discarded, the run not reopened

    # The run the refusal names scores the restored photo; promotion adopts its score.
    since = rescore(engine, stored.store, _scorer(model), since=LOST_DAY, progress=False)
    assert since.complete and since.restored == 1 and since.scored_now == 1
    assert [(p, run, why) for p, run, why in runs_and_outcomes(engine)[1] if p == lost] == [
        (lost, since.run_id, None)
    ]
    sessions = make_session_factory(engine)
    assert promote(sessions, KEY, model_dir=model, serving_model_dir=model, actor="t").updated == 1
    with sessions() as session:
        versions = set(session.execute(select(Photo.model_version)).scalars())
    assert versions == {read_artifact(model).model_version}
    engine.dispose()


def test_the_refusal_names_the_earliest_day_of_a_restored_and_a_late_photo(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A photo uploaded later under the old model is still to score too: the day named is the
    first of the two, the restored one's."""
    engine, stored, model, _, kept = _promoted_with_a_lost_original(
        tmp_path, database_url, monkeypatch
    )
    late_upload(database_url, stored.store, day=10, seed=1)
    stored.store.put(kept)
    new_code(monkeypatch, NEW_CODE)
    before = runs_and_outcomes(engine)
    with pytest.raises(RescoreResumeError) as refused:
        rescore(engine, stored.store, _scorer(model), progress=False)
    assert "`shanyraq rescore --model DIR --since 2026-01-02`" in refused.value.message
    assert runs_and_outcomes(engine) == before
    engine.dispose()


def test_the_ray_pipeline_refuses_a_restored_original_naming_its_upload_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Ray pipeline checks restored originals the same way: the same refusal, the same day,
    and nothing deleted or changed."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine, stored, model, _, kept = _promoted_with_a_lost_original(
        tmp_path, url, monkeypatch, ray=True
    )
    late_upload(url, stored.store, day=10, seed=1)
    stored.store.put(kept)
    new_code(monkeypatch, NEW_CODE)
    before = runs_and_outcomes(engine)
    with pytest.raises(RescoreResumeError) as refused:
        ray_pipeline(monkeypatch, FakeRay(), url, tmp_path / "photos", model)
    message = refused.value.message
    assert "the Ray pipeline's re-scoring run 1" in message
    assert "`shanyraq rescore --model DIR --since 2026-01-02`" in message
    assert runs_and_outcomes(engine) == before
    engine.dispose()


def test_discarding_a_promoted_run_names_a_real_day(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rescore discard` refuses a promoted run and names the new-run way: from the upload day
    of a photo recorded as store damage (a new run scores it once restored), and, with nothing
    in its scope left to score, says so and names a new run from today for photos uploaded
    later under the old model, never a placeholder for a day."""
    engine, stored, model, _, kept = _promoted_with_a_lost_original(
        tmp_path, database_url, monkeypatch
    )
    version = read_artifact(model).model_version
    sessions = make_session_factory(engine)
    with sessions() as session, pytest.raises(RescoreDiscardError) as damaged:
        discard_run(session, version, "")
    assert "DAY" not in damaged.value.message, damaged.value.message
    assert "`shanyraq rescore --model DIR --since 2026-01-02`" in damaged.value.message

    stored.store.put(kept)
    assert rescore(engine, stored.store, _scorer(model), progress=False).scored_now == 1
    days = {datetime.now(UTC).date().isoformat()}
    with sessions() as session, pytest.raises(RescoreDiscardError) as nothing:
        discard_run(session, version, "")
    days.add(datetime.now(UTC).date().isoformat())  # the refusal's today, even at midnight
    message = nothing.value.message
    assert "DAY" not in message, message
    assert "no photo in its scope is left to score now" in message
    assert any(
        f"start a new run, which scores only the photos no run has scored: `shanyraq rescore "
        f"--model DIR --since {day}`, then `shanyraq rescore promote --model DIR`" in message
        for day in days
    ), message
    engine.dispose()
