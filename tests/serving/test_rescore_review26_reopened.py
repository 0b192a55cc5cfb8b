"""Re-scoring, review 26: a promoted run reopened for photos uploaded since, and killed while it
scored them (SIGKILL, power loss), stays unfinished. Once the code (or the engine settings, the
scorer path) changed, no command could leave that state but an edit of the database: its resume
was refused (only the old code could go on), --restart and `rescore discard` were refused (a
promotion adopted its scores), and `rescore promote` was refused while it was unfinished, even
after a new --since run had scored what it left. The resume's refusal now names a new run, and
the run's own command then marks it finished, scoring nothing, when nothing in its scope is
left to score; promotion follows."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving.db.models import Photo, RescoredScore, RescoreRun
from serving.db.session import make_engine, make_session_factory
from serving.promote import promote
from serving.promote_plan import RescoreIncompleteError
from serving.rescore import rescore
from serving.rescore_runs import RescoreRestartError, RescoreResumeError
from tests.serving.rescore_fixtures import CountingScorer, populate, tiny_model
from tests.serving.rescore_helpers import late_upload, new_code
from tests.serving.subprocess_runs import pinned_command
from vision.artifact import read_artifact
from vision.bulk import open_scorer

KEY = b"test-secret-key-0123456789abcdef"
OLD_CODE, NEW_CODE = "0.1.0+aaaaaaaaaaaa", "0.1.0+bbbbbbbbbbbb"

# The run's own command in another process (under the code OLD_CODE), killed by SIGKILL right
# after its first batch commits: nothing of rescore's runs after that (no finally, no handler),
# as after power loss.
_KILLED = """
import os, signal, sys
from pathlib import Path
from serving.db.session import make_engine
from serving.rescore import rescore
from serving.storage import PhotoStore
from vision.bulk import open_scorer
scorer = open_scorer(Path(sys.argv[3]), prefer="cpu", max_pixels=50_000_000,
                     decode_short_side=1024)
rescore(make_engine(sys.argv[1]), PhotoStore(Path(sys.argv[2])), scorer, batch_size=1,
        progress=False, on_batch=lambda _done: os.kill(os.getpid(), signal.SIGKILL))
"""


def _killed_after_one_batch(url: str, store_root: Path, model: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = pinned_command(_KILLED, url, str(store_root), str(model), code_version=OLD_CODE)
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, timeout=300)
    assert done.returncode == -9, done.stderr.decode()  # killed, not finished


def _runs(engine: Any) -> list[tuple[int, str, str]]:
    with make_session_factory(engine)() as session:
        rows = session.execute(select(RescoreRun.id, RescoreRun.since_key, RescoreRun.status))
        return sorted((run_id, key, status) for run_id, key, status in rows)


def test_a_promoted_run_killed_while_reopened_is_left_by_the_commands_its_refusal_names(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny_model(tmp_path / "models")
    version = read_artifact(model).model_version
    photos = populate(database_url, tmp_path / "photos", 3)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    scorer = open_scorer(model, prefer="cpu", max_pixels=50_000_000, decode_short_side=1024)

    def _promote() -> int:
        report = promote(sessions, KEY, model_dir=model, serving_model_dir=model, actor="t")
        return report.updated

    new_code(monkeypatch, OLD_CODE)
    assert rescore(engine, photos.store, scorer, progress=False).complete
    assert _promote() == 3
    # Uploaded afterwards by a service not yet restarted onto the model.
    late = [late_upload(database_url, photos.store, day=d, seed=d) for d in (10, 11)]
    _killed_after_one_batch(database_url, tmp_path / "photos", model)
    assert _runs(engine) == [(1, "", "running")]  # reopened, one late photo scored, killed
    new_code(monkeypatch, NEW_CODE)  # the service updated meanwhile

    with pytest.raises(RescoreResumeError) as refused:
        rescore(engine, photos.store, scorer, progress=False)
    message = refused.value.message
    assert "`rescore promote` adopted its scores, so it is kept" in message
    assert (
        "start a new run, which scores only the photos no run has scored: `shanyraq rescore "
        "--model DIR --since 2026-01-12`, then run this command again (with nothing left in "
        "its scope to score, it marks run 1 finished, scoring nothing), then `shanyraq "
        "rescore promote --model DIR`"
    ) in message
    with pytest.raises(RescoreRestartError):  # its outcomes are the service's scores
        rescore(engine, photos.store, scorer, progress=False, restart=True)
    with pytest.raises(RescoreIncompleteError):
        _promote()

    # Following the refusal, under the new code: the new run scores the photo left ...
    since = datetime(2026, 1, 12, tzinfo=UTC)
    report = rescore(engine, photos.store, scorer, since=since, progress=False)
    assert report.complete and report.scored == 1
    # ... the run's own command marks it finished, scoring nothing ...
    counting = CountingScorer(scorer)
    closed = rescore(engine, photos.store, counting, progress=False)
    assert closed.complete and closed.this_session == 0 and counting.seen == []
    assert [status for *_, status in _runs(engine)] == ["done", "done"]
    # ... and the promotion adopts both late photos.
    assert _promote() == 2
    with sessions() as session:
        on = dict(session.execute(select(Photo.id, Photo.model_version)).all())
        runs_of = dict(session.execute(select(RescoredScore.photo_id, RescoredScore.run_id)).all())
    assert set(on.values()) == {version}
    assert [runs_of[p] for p in late] == [1, 2]
    engine.dispose()


def test_a_promoted_run_killed_after_its_last_batch_is_marked_finished_by_its_own_command(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after its last batch, before it marked itself finished: under the new code its
    own command marks it finished at once; under the code it recorded it finishes as before."""
    model = tiny_model(tmp_path / "models")
    photos = populate(database_url, tmp_path / "photos", 2)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    scorer = open_scorer(model, prefer="cpu", max_pixels=50_000_000, decode_short_side=1024)
    new_code(monkeypatch, OLD_CODE)
    assert rescore(engine, photos.store, scorer, progress=False).complete
    promote(sessions, KEY, model_dir=model, serving_model_dir=model, actor="t")
    late_upload(database_url, photos.store, day=10, seed=1)
    _killed_after_one_batch(database_url, tmp_path / "photos", model)
    assert _runs(engine) == [(1, "", "running")]  # its one photo scored, not marked finished
    new_code(monkeypatch, NEW_CODE)
    counting = CountingScorer(scorer)
    report = rescore(engine, photos.store, counting, progress=False)
    assert report.complete and report.this_session == 0 and counting.seen == []
    assert report.provenance is not None and report.provenance.code_version == OLD_CODE
    assert _runs(engine) == [(1, "", "done")]
    assert promote(sessions, KEY, model_dir=model, serving_model_dir=model, actor="t").updated == 1
    engine.dispose()
