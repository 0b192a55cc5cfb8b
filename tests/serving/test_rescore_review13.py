"""Re-scoring and promotion, review 13: photos uploaded after a run finished are scored by the
next call of that run (else a promotion refused for them could never be satisfied), and a
finished run refused under another provenance is not sent to --restart, which refuses it; the
service's copy of the promoted model must score as the re-scoring's did."""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving.db.models import Photo
from serving.db.session import make_engine, make_session_factory
from serving.promote_plan import plan
from serving.rescore import rescore, scores_for
from serving.rescore_coverage import RescoreScopePartialError
from serving.rescore_provenance import RunProvenance
from serving.rescore_runs import RescoreRestartError, RescoreResumeError
from serving.rescore_service_model import ServingModelMismatchError
from tests.serving.rescore_fixtures import (
    DAY0,
    CountingScorer,
    populate,
    tiny_model,
)
from tests.serving.rescore_store_helpers import upload_on_old_model
from vision.bulk import open_scorer

MAX_PIXELS = 50_000_000


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def scorer(model: Path) -> Any:
    return open_scorer(model, prefer="cpu", max_pixels=MAX_PIXELS, decode_short_side=1024)


def test_photos_uploaded_after_a_run_finished_are_scored_by_its_next_call(
    tmp_path: Path, model: Path, scorer: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored = populate(url, tmp_path / "photos", 3)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    assert rescore(engine, stored.store, scorer, batch_size=2, progress=False).complete

    late = upload_on_old_model(engine, stored, day=10, seed=1)
    with pytest.raises(RescoreScopePartialError, match="--since 2026-01-11"):
        plan(sessions, model_dir=model, serving_model_dir=model)
    # As the refusal says: re-score from that day. Then one more upload the same day, and the
    # same refusal again: the same command must score it too, not answer "complete".
    since = DAY0 + timedelta(days=10)
    first = rescore(engine, stored.store, scorer, since=since, progress=False)
    assert first.complete and first.this_session == 1
    later = upload_on_old_model(engine, stored, day=10, seed=2)
    with pytest.raises(RescoreScopePartialError, match="--since 2026-01-11"):
        plan(sessions, model_dir=model, serving_model_dir=model)
    counting = CountingScorer(scorer)
    again = rescore(engine, stored.store, counting, since=since, progress=False)
    assert counting.seen == [later] and again.this_session == 1
    assert again.complete and again.scored == again.in_scope == 2
    # The run without --since catches up the same way, and then has nothing left to do.
    newest = upload_on_old_model(engine, stored, day=11, seed=3)
    counting = CountingScorer(scorer)
    whole = rescore(engine, stored.store, counting, progress=False)
    assert counting.seen == [newest] and whole.complete and whole.resumed
    idle = CountingScorer(scorer)
    assert rescore(engine, stored.store, idle, progress=False).this_session == 0
    assert idle.seen == []
    with sessions() as session:
        assert {late, later, newest} <= set(scores_for(session, scorer.model_version))
    found = plan(sessions, model_dir=model, serving_model_dir=model)
    assert found.to_update == 6
    engine.dispose()


def test_the_report_counts_photos_uploaded_while_the_run_scored(
    tmp_path: Path, scorer: Any
) -> None:
    """The walk scores photos uploaded meanwhile; the summary's scope must count them too, or
    it reads "in scope: 3; scored: 4"."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored = populate(url, tmp_path / "photos", 3)
    engine = make_engine(url)
    uploaded: list[int] = []

    def upload_once(_done: int) -> None:
        if not uploaded:
            uploaded.append(upload_on_old_model(engine, stored, day=5, seed=4))

    report = rescore(
        engine, stored.store, scorer, batch_size=2, progress=False, on_batch=upload_once
    )
    assert report.complete and report.this_session == 4
    assert report.in_scope == report.scored + report.failed == 4
    engine.dispose()


def test_a_finished_run_under_another_provenance_names_a_way_that_works(
    tmp_path: Path, scorer: Any
) -> None:
    """A photo restored to the store (or uploaded since) would reopen the finished run; under
    other code its refusal must not send the administrator to --restart, which a finished run
    refuses: the two errors would send them round in a circle."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored = populate(url, tmp_path / "photos", 3)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        sha = session.execute(select(Photo.sha256).where(Photo.id == stored.ids[1])).scalar_one()
    kept = stored.store.path_for(sha).read_bytes()
    stored.store.path_for(sha).unlink()
    report = rescore(engine, stored.store, scorer, progress=False)
    assert report.complete and report.store_damaged == 1
    stored.store.path_for(sha).write_bytes(kept)  # restored from a backup
    updated = dataclasses.replace(RunProvenance.of(scorer), code_version="9.9.9+000000000000")
    with pytest.raises(RescoreResumeError) as refused:
        rescore(engine, stored.store, scorer, progress=False, provenance=updated)
    message = refused.value.message
    assert "is finished" in message and "code version" in message
    assert "--restart" not in message
    with pytest.raises(RescoreRestartError):  # what the old hint led to
        rescore(engine, stored.store, scorer, progress=False, provenance=updated, restart=True)
    # As the run was started, the restored photo is scored.
    again = rescore(engine, stored.store, scorer, progress=False)
    assert again.restored == 1 and again.store_damaged == 0 and again.complete
    engine.dispose()


@pytest.mark.parametrize(
    ("part", "value", "said"),
    [
        ("preprocessing", {"size": 48}, "preprocessing"),
        ("temperatures", {"room": 2.0}, "temperatures"),
    ],
)
def test_promote_refuses_a_service_copy_of_the_model_that_scores_otherwise(
    tmp_path: Path, model: Path, scorer: Any, part: str, value: dict[str, Any], said: str
) -> None:
    """Same model version, another model.json: new uploads would be scored otherwise than the
    re-scores the promotion adopts, under one version."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored = populate(url, tmp_path / "photos", 2)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    assert rescore(engine, stored.store, scorer, progress=False).complete
    served = tmp_path / "served-copy"
    shutil.copytree(model, served)
    meta = json.loads((served / "model.json").read_text())
    meta[part] = {**meta[part], **value}
    (served / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ServingModelMismatchError, match=said) as refused:
        plan(sessions, model_dir=model, serving_model_dir=served)
    assert str(served) in refused.value.message and "set model_dir" in refused.value.message
    assert plan(sessions, model_dir=model, serving_model_dir=model).to_update == 2
    engine.dispose()
