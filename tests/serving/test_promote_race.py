"""`rescore promote`: photos a service not restarted onto the promoted model uploads
while a promotion runs carry the old model's scores; the promotion checked coverage only at
its start and reported success. It now checks again in its final entry's transaction and stops
unfinished (audited as scores_promotion_stopped) naming the --since to re-score from. And a
promoted run refused after a code upgrade names the way that works: a new --since run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving import audit
from serving.db.models import Photo
from serving.db.session import make_engine, make_session_factory
from serving.promote import promote
from serving.rescore import rescore
from serving.rescore_coverage import RescoreScopePartialError
from serving.rescore_runs import RescoreResumeError
from tests.serving.helpers import jpeg
from tests.serving.rescore_fixtures import (
    DAY0,
    PROMOTED,
    STOPPED,
    cpu_scorer,
    file_and_assess,
    populate,
    promotion_entries,
)
from tests.serving.rescore_helpers import late_upload, new_code
from vision.artifact import read_artifact

KEY = b"test-secret-key-0123456789abcdef"


def _versions(sessions: Any) -> dict[int, str | None]:
    with sessions() as session:
        return {pid: v for pid, v in session.execute(select(Photo.id, Photo.model_version))}


def test_a_photo_uploaded_under_the_old_model_while_promoting_stops_the_promotion(
    make_service: Any, models: tuple[Path, Path]
) -> None:
    old, new = models
    version = read_artifact(new).model_version
    service = make_service(model_dir=old)  # serving.yaml names the new model; not restarted
    file_and_assess(service, ("F1", "F2"))  # photos 1-4, scored by the old model
    services = service.services
    assert rescore(services.db_engine, services.store, cpu_scorer(new), progress=False).complete
    uploads: list[int] = []

    def upload_meanwhile(_done: int) -> None:  # after the start's coverage check passed
        if not uploads:
            response = service.upload("F1", jpeg(99))
            assert response.status_code == 201, response.text
            uploads.append(response.status_code)

    with pytest.raises(RescoreScopePartialError) as refused:
        promote(
            services.sessions, services.signing_key, model_dir=new, serving_model_dir=new,
            actor="cli", batch_size=3, on_batch=upload_meanwhile,
        )  # fmt: skip
    on_old = {pid: v for pid, v in _versions(services.sessions).items() if v != version}
    assert list(on_old.values()) == [read_artifact(old).model_version]  # the late upload only
    [late] = on_old
    with services.sessions() as session:
        day = str(session.get(Photo, late).created_at)[:10]
    message = refused.value.message
    assert message.startswith(f"1 photo(s), uploaded from {day} on, have no score under {version}")
    assert f"while this promotion ran, so it stops unfinished ({STOPPED})" in message
    assert "restart it on its model_dir" in message
    assert f"`shanyraq rescore --model {new} --since {day}`, then promote again" in message
    [(action, details)] = promotion_entries(services.sessions)  # no success recorded
    assert action == STOPPED and details["updated"] == 4
    assert details["error"] == "rescore_scope_partial"

    # Following the message: re-score from that day, promote again; now it succeeds.
    since = datetime.fromisoformat(day).replace(tzinfo=UTC)
    report = rescore(
        services.db_engine, services.store, cpu_scorer(new), since=since, progress=False
    )
    assert report.complete and report.scored == 1
    again = promote(
        services.sessions, services.signing_key, model_dir=new, serving_model_dir=new, actor="cli"
    )
    assert again.updated == 1 and again.audited
    assert set(_versions(services.sessions).values()) == {version}
    assert [action for action, _ in promotion_entries(services.sessions)] == [STOPPED, PROMOTED]
    with services.sessions() as session:
        assert audit.verify(session, services.signing_key).ok


@pytest.mark.parametrize("own_since", [None, 10], ids=["every-photo-run", "since-run"])
def test_a_promoted_run_refused_after_an_upgrade_names_a_new_since_run_that_works(
    tmp_path: Path,
    database_url: str,
    models: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    own_since: int | None,
) -> None:
    _, new = models
    version = read_artifact(new).model_version
    photos = populate(database_url, tmp_path / "photos", 3)
    engine = make_engine(database_url)
    sessions, scorer = make_session_factory(engine), cpu_scorer(new)

    def _promote() -> int:
        report = promote(sessions, KEY, model_dir=new, serving_model_dir=new, actor="t")
        return report.updated

    new_code(monkeypatch, "0.1.0+aaaaaaaaaaaa")
    assert rescore(engine, photos.store, scorer, progress=False).complete
    assert _promote() == 3
    since = None
    if own_since is not None:  # a promoted --since run whose own day is the late photo's
        since = DAY0 + timedelta(days=own_since)
        late_upload(database_url, photos.store, day=own_since, seed=1)
        assert rescore(engine, photos.store, scorer, since=since, progress=False).complete
        assert _promote() == 1
    late_upload(database_url, photos.store, day=10, seed=2)  # 2026-01-11
    new_code(monkeypatch, "0.1.0+bbbbbbbbbbbb")
    with pytest.raises(RescoreResumeError) as refused:
        rescore(engine, photos.store, scorer, since=since, progress=False)
    message = refused.value.message
    named = "2026-01-11" if own_since is None else "2026-01-10"  # not the run's own --since
    assert (
        "so it is kept: run this command again as the run was started; or, to score them under "
        "the current ones, start a new run, which scores only the photos no run has scored: "
        f"`shanyraq rescore --model DIR --since {named}`, then `shanyraq rescore promote "
        "--model DIR`"
    ) in message
    assert "discard" not in message and "--restart" not in message

    # Following it, under the new code: the new run scores the late photo alone; promoted.
    when = datetime.fromisoformat(named).replace(tzinfo=UTC)
    report = rescore(engine, photos.store, scorer, since=when, progress=False)
    assert report.complete and report.scored == 1
    assert _promote() == 1
    assert set(_versions(sessions).values()) == {version}
    engine.dispose()
