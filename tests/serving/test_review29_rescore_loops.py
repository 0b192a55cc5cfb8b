"""Re-scoring, review 29: a naive `since` in the Ray pipeline, and refusals that led in circles.

1. `rescore_with_ray(..., since=datetime(2026, 1, 2))` keyed its run as midnight UTC (as
   `shanyraq rescore --since 2026-01-02` takes the day) but read the photos from midnight local
   time: in Almaty, from 19:00 UTC the day before, so the run scored photos out of its scope;
   west of Greenwich it never read photos its scope holds. A naive moment is UTC everywhere now.
2. `rescore promote`, refused for a photo uploaded after a promotion stopped half-way, named a
   new --since run, which is refused until the promotion is finished: it names the run that
   holds the outcomes to adopt, as it was started, which scores the photo.
3. `rescore discard` of a promoted run reopened and stopped named "run this command again" (the
   discard, which never marks a run finished) for the run's own command; of a run a stopped
   promotion adopted in part, a new run, which is refused until the promotion is finished.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from serving.db.models import Photo, RescoredScore, RescoreRun
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.rescore import rescore
from serving.rescore_coverage import RescoreScopePartialError
from serving.rescore_discard import RescoreDiscardError, discard_run
from serving.rescore_photos import not_yet_scored, photo_scope
from serving.rescore_ray import read_query
from serving.rescore_ray_actor import Database, read_page
from serving.rescore_runs import RescoreMixError, since_key_of
from tests.serving.rescore_fixtures import (
    cpu_scorer,
    populate,
    stop_after_first_batch,
    tiny_model,
)
from tests.serving.rescore_helpers import NEW_CODE, OLD_CODE, VERSION, late_upload, new_code
from tests.serving.rescore_promote_helpers import (
    PROMOTE,
    half_promoted,
    promote_run,
    ray_rescore,
    scored_versions,
)
from tests.serving.rescore_store_helpers import LOST_DAY

NAIVE_DAY = datetime(2026, 1, 2)  # no zone: midnight UTC, as `--since 2026-01-02`
# (hours after midnight UTC on 2 January 2026; a negative one is on 1 January)
IN_SCOPE, BEFORE_SCOPE, LATER = 3, -4, 24  # photo 1: 03:00; photo 2: 20:00 the day before


@pytest.fixture
def local_zone() -> Iterator[Any]:
    """Sets this process's local time zone (TZ, then time.tzset) for the test; restores it."""
    before = os.environ.get("TZ")

    def set_zone(zone: str) -> None:
        os.environ["TZ"] = zone
        time.tzset()

    yield set_zone
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def _photos_around_the_day(url: str, store_root: Path) -> list[int]:
    """3 photos uploaded 2 January 03:00 UTC, 1 January 20:00 UTC (out of the day's scope, with
    an id inside the ids the day's scope holds) and 3 January 00:00 UTC; their ids."""
    stored = populate(url, store_root, 3)
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        for photo_id, hours in zip(stored.ids, (IN_SCOPE, BEFORE_SCOPE, LATER), strict=True):
            when = NAIVE_DAY.replace(tzinfo=UTC) + timedelta(hours=hours)
            session.execute(update(Photo).where(Photo.id == photo_id).values(created_at=when))
    engine.dispose()
    return stored.ids


def _scope(url: str) -> set[int]:
    """The photos of the day's scope as the run's key and `rescore` take it, none scored yet."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            query = select(Photo.id).where(*photo_scope(NAIVE_DAY), not_yet_scored(VERSION))
            return set(session.execute(query).scalars())
    finally:
        engine.dispose()


def _database_zone(url: str, zone: str) -> None:
    """A PostgreSQL database's sessions in `zone`, as a server set up in the deployment's zone
    has them (a timestamp without a zone is taken in it)."""
    if not url.startswith("postgresql"):
        return
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    name = plain.rsplit("/", 1)[1]
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f"ALTER DATABASE \"{name}\" SET timezone TO '{zone}'")


# --- 1. a naive `since` is UTC, as the run's key takes it ------------------------------------


@pytest.mark.parametrize("zone", ["Asia/Almaty", "America/New_York"])
def test_the_pipeline_reads_the_scope_its_key_names_whatever_the_local_zone(
    tmp_path: Path, database_url: str, local_zone: Any, zone: str
) -> None:
    """The actors' query reads, for a naive `since`, the photos the run's key (midnight UTC)
    and `rescore`'s scope hold: not from midnight in Almaty (19:00 UTC the day before, photo 2
    read) nor in New York (05:00 UTC, photo 1 never read), on the host or the database server."""
    local_zone(zone)
    ids = _photos_around_the_day(database_url, tmp_path / "photos")
    _database_zone(database_url, zone)
    assert since_key_of(NAIVE_DAY, ray=True) == "ray:2026-01-02T00:00:00+00:00"
    assert _scope(database_url) == {ids[0], ids[2]}

    db = Database(database_url)
    sql, params = read_query(db, VERSION, NAIVE_DAY, paged=True)
    read = read_page({"after": [0], "last": [max(ids)]}, db=db, sql=sql, params=params)
    assert set(read.column("photo_id").to_pylist()) == _scope(database_url)


@pytest.mark.slow
def test_a_ray_run_of_a_naive_day_in_almaty_scores_its_own_scope(
    tmp_path: Path, model: Path, local_ray: Any, local_zone: Any
) -> None:
    """On a real local Ray, in the deployment's zone: the run of `since=datetime(2026, 1, 2)`
    scores the photos from midnight UTC, as its key says, and no photo uploaded before."""
    local_zone("Asia/Almaty")
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    ids = _photos_around_the_day(url, tmp_path / "photos")
    report = ray_rescore(url, tmp_path / "photos", model, since=NAIVE_DAY)
    assert report.complete and (report.in_scope, report.scored, report.failed) == (2, 2, 0)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        run = session.get_one(RescoreRun, report.run_id)
        scored = set(session.execute(select(RescoredScore.photo_id)).scalars())
    engine.dispose()
    assert run.since_key == "ray:2026-01-02T00:00:00+00:00"
    assert scored == {ids[0], ids[2]}


# --- 2. promote, after a promotion stopped half-way, and a late upload ------------------------


def test_promote_names_the_half_promoted_run_as_started_for_a_late_upload(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A photo uploaded after a promotion stopped half-way, the code updated since: the
    promotion's refusal names no new --since run (refused until the promotion is finished),
    but run 1 as it was started, which scores the photo; following it, the promotion ends."""
    engine, stored, model_dir, kept = half_promoted(tmp_path, database_url, monkeypatch)
    stored.store.put(kept)
    late_upload(database_url, stored.store, day=10, seed=1)
    new_code(monkeypatch, NEW_CODE)

    with pytest.raises(RescoreScopePartialError) as refused:
        promote_run(engine, model_dir)
    message = refused.value.message
    uploaded = "1 photo(s), uploaded from 2026-01-11 on"
    assert message.startswith(f"{uploaded}, have no score under {VERSION}")
    assert "a promotion stopped half-way adopted some of run 1's scores" in message
    assert (
        f"run `shanyraq rescore --model {model_dir}` as run 1 was started (with the settings it "
        "recorded), which scores them, then promote again"
    ) in message
    assert "--since 2026-01-11" not in message

    # The way named before: a new --since run, refused until the promotion is finished.
    with pytest.raises(RescoreMixError, match="finish the promotion first"):
        rescore(engine, stored.store, cpu_scorer(model_dir),
                since=datetime(2026, 1, 11, tzinfo=UTC), progress=False)  # fmt: skip

    new_code(monkeypatch, OLD_CODE)  # the settings run 1 recorded
    report = rescore(engine, stored.store, cpu_scorer(model_dir), progress=False)
    assert report.complete and report.scored_now == 2  # the late photo and the restored one
    assert promote_run(engine, model_dir) == 3
    assert scored_versions(database_url) == {VERSION}
    engine.dispose()


# --- 3. discard of a promoted run: its own command, and the promotion first ------------------


def _refusal(engine: Any) -> str:
    with make_session_factory(engine)() as session, pytest.raises(RescoreDiscardError) as refused:
        discard_run(session, VERSION, "")
    return refused.value.message


def test_discard_of_a_promoted_run_stopped_part_way_names_its_own_command(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Promoted, reopened for two late photos and stopped after one, the code updated: the
    discard's refusal names the run's command (not "this command", the discard, which marks
    no run finished) as what marks run 1 finished after the new run; following it, the
    promotion ends with every photo on the model."""
    new_code(monkeypatch, OLD_CODE)
    stored = populate(database_url, tmp_path / "photos", 3)
    model_dir = tiny_model(tmp_path / "models")
    engine = make_engine(database_url)
    assert rescore(engine, stored.store, cpu_scorer(model_dir), progress=False).complete
    assert promote_run(engine, model_dir) == 3
    for day in (10, 11):
        late_upload(database_url, stored.store, day=day, seed=day)
    with pytest.raises(KeyboardInterrupt):
        rescore(engine, stored.store, cpu_scorer(model_dir), batch_size=1, progress=False,
                on_batch=stop_after_first_batch)  # fmt: skip
    new_code(monkeypatch, NEW_CODE)

    message = _refusal(engine)
    assert "it is kept; run `shanyraq rescore --model DIR` as the run was started" in message
    assert (
        "then run `shanyraq rescore --model DIR` again (with nothing left in its scope to score, "
        f"it marks run 1 finished, scoring nothing), then {PROMOTE}"
    ) in message
    assert "this command" not in message

    # Following the words under the new code: the new run, run 1's command, the promotion.
    day = re.search(r"`shanyraq rescore --model DIR --since (\d{4}-\d{2}-\d{2})`", message)
    assert day is not None, message
    since = datetime.fromisoformat(day[1]).replace(tzinfo=UTC)
    assert rescore(engine, stored.store, cpu_scorer(model_dir), since=since,
                   progress=False).scored_now == 1  # fmt: skip
    closed = rescore(engine, stored.store, cpu_scorer(model_dir), progress=False)
    assert closed.complete and closed.scored_now == 0
    assert promote_run(engine, model_dir) == 2
    assert scored_versions(database_url) == {VERSION}
    engine.dispose()


def test_discard_of_a_half_promoted_run_says_to_finish_the_promotion_first(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A promotion stopped half-way, the code updated: the refusal names the promotion first,
    not a new run (refused till then); following it, the new run scores the restored photo."""
    engine, stored, model_dir, kept = half_promoted(tmp_path, database_url, monkeypatch)
    new_code(monkeypatch, NEW_CODE)

    message = _refusal(engine)
    assert "adopted" in message and "so it is kept" in message
    assert f"finish the promotion first: run {PROMOTE} again, which adopts the rest" in message
    assert message.index("finish the promotion first") < message.index("start a new run")
    with pytest.raises(RescoreMixError, match="finish the promotion first"):
        rescore(engine, stored.store, cpu_scorer(model_dir), since=LOST_DAY,
                progress=False)  # fmt: skip

    assert promote_run(engine, model_dir) == 1  # photo 3
    stored.store.put(kept)
    since = rescore(engine, stored.store, cpu_scorer(model_dir), since=LOST_DAY,
                    progress=False)  # fmt: skip
    assert since.complete and since.scored_now == 1
    assert promote_run(engine, model_dir) == 1
    assert scored_versions(database_url) == {VERSION}
    engine.dispose()


def test_discard_of_an_unfinished_half_promoted_run_says_to_finish_it_as_started(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reopened for two late photos after a promotion stopped half-way, stopped after one, the
    code updated: the refusal says to finish the run as it was started, then the promotion,
    and names no new run; following it, every photo ends on the model."""
    engine, stored, model_dir, _ = half_promoted(tmp_path, database_url, monkeypatch)
    for day in (10, 11):
        late_upload(database_url, stored.store, day=day, seed=day)
    with pytest.raises(KeyboardInterrupt):
        rescore(engine, stored.store, cpu_scorer(model_dir), batch_size=1, progress=False,
                on_batch=stop_after_first_batch)  # fmt: skip
    new_code(monkeypatch, NEW_CODE)

    message = _refusal(engine)
    assert (
        "finish it (run `shanyraq rescore --model DIR` as the run was started), then finish the "
        f"promotion: run {PROMOTE} again"
    ) in message
    assert "start a new run" not in message

    new_code(monkeypatch, OLD_CODE)
    report = rescore(engine, stored.store, cpu_scorer(model_dir), progress=False)
    assert report.complete and report.scored_now == 1
    assert promote_run(engine, model_dir) == 3  # photo 3 and the two late ones
    engine.dispose()
