"""The Ray re-scoring pipeline, review 15: it holds the re-scoring lock of its model version for
the whole run, as `rescore`, `rescore discard` and `rescore promote` do; it scores again the
photos recorded as missing or damaged in the store once they are restored; and a finished run
it reopens is marked running while it scores, done when it finishes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving.db.models import Photo, RescoredScore, RescoreRun
from serving.db.session import make_engine, make_session_factory
from serving.promote_plan import plan
from serving.rescore_lock import rescore_lock
from serving.rescore_photos import MISSING_FILE
from serving.rescore_ray import rescore_with_ray
from serving.rescore_runs import RescoreBusyError
from serving.storage import PhotoStore
from shanyraq.errors import ShanyraqError
from tests.serving.cli_helpers import error_code, run_cli
from tests.serving.rescore_helpers import (
    MAX_PIXELS,
    VERSION,
    NoRay,
    Stop,
    cli_service,
    late_upload,
    new_code,
    run_rows,
)
from tests.serving.rescore_ray_helpers import finished_ray_run

RAY_HOLDER = "`serving.rescore_ray.rescore_with_ray`: process "


@pytest.fixture(autouse=True)
def _one_code_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """The code version the runs record, fixed: others may edit the checkout meanwhile."""
    new_code(monkeypatch, "0.1.0+aaaaaaaaaaaa")


@dataclass
class RunState:
    status: str
    finished: bool
    outcomes: dict[int, str | None]  # photo id -> the recorded reason (None: a score)


def _state(url: str, run_id: int) -> RunState:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            run = session.get_one(RescoreRun, run_id)
            rows = session.execute(
                select(RescoredScore.photo_id, RescoredScore.error).where(
                    RescoredScore.model_version == VERSION
                )
            ).all()
            outcomes = {photo_id: error for photo_id, error in rows}
            return RunState(run.status, run.finished_at is not None, outcomes)
    finally:
        engine.dispose()


@dataclass
class StopAtRayStart:
    """Stands for the `ray` module: the first use of it records the run's state (what Ray
    would start on) and stops the pipeline there."""

    url: str
    run_id: int
    seen: list[RunState] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        self.seen.append(_state(self.url, self.run_id))
        raise Stop


def _lose(url: str, store_root: Path, photo_id: int) -> None:
    """The photo's original gone from the store (and no backup restored it yet)."""
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        sha256 = session.get_one(Photo, photo_id).sha256
    engine.dispose()
    PhotoStore(store_root).path_for(sha256).unlink()


# --- 1. the re-scoring lock ------------------------------------------------------------------


def test_the_pipeline_is_refused_like_rescore_while_another_command_holds_the_lock(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, url, store_root = cli_service(tmp_path, 3, model)
    data = tmp_path / "data"
    monkeypatch.setattr("serving.rescore_ray._ray", lambda: NoRay())
    with rescore_lock(data, VERSION, command="rescore promote"):
        plain = run_cli("rescore", "--model", model, "--config", config, "--device", "cpu",
                     "--no-progress")  # fmt: skip
        with pytest.raises(RescoreBusyError) as refused:
            rescore_with_ray(
                url, store_root, model, model_version=VERSION, prefer="cpu",
                max_pixels=MAX_PIXELS, data_dir=data,
            )  # fmt: skip
    assert error_code(plain) == "rescore_busy", plain.output
    assert refused.value.code == "rescore_busy"
    assert refused.value.message == plain.exception.message  # the same words, the same holder
    assert "`shanyraq rescore promote`: process " in refused.value.message
    assert run_rows(url) == []  # refused before it opened a run; Ray was not started


# --- 3. a finished run reopened for photos filed since is running while it scores -----------


def test_a_finished_run_reopened_for_a_late_upload_is_running_while_it_scores(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url, store_root = cli_service(tmp_path, 3, model)
    run_id = finished_ray_run(url, model, [1, 2, 3], [])
    late = late_upload(url, PhotoStore(store_root), day=10, seed=1)
    ray = StopAtRayStart(url, run_id)
    monkeypatch.setattr("serving.rescore_ray._ray", lambda: ray)
    with pytest.raises(Stop):
        rescore_with_ray(url, store_root, model, model_version=VERSION, prefer="cpu",
                         max_pixels=MAX_PIXELS)  # fmt: skip
    [at_start] = ray.seen
    assert (at_start.status, at_start.finished) == ("running", False)
    assert late not in at_start.outcomes
    # Stopped there, it stays unfinished: promotion waits for it rather than adopting part.
    engine = make_engine(url)
    with pytest.raises(ShanyraqError) as refused:
        plan(make_session_factory(engine), model_dir=model, serving_model_dir=model)
    engine.dispose()
    assert refused.value.code == "rescore_incomplete"
    # Its way on is the pipeline's call, which no command makes (it said "the Ray pipeline").
    assert "call `rescore_with_ray(...)` again to finish it" in refused.value.message
    with rescore_lock(tmp_path / "data", VERSION):  # and it let the lock go
        pass


# --- 2. photos restored to the store are scored again -----------------------------------------


def test_a_finished_run_scores_again_the_photos_restored_to_the_store(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url, store_root = cli_service(tmp_path, 4, model)
    run_id = finished_ray_run(url, model, [1, 3], [2, 4])  # 2 is back in the store since
    _lose(url, store_root, 4)
    ray = StopAtRayStart(url, run_id)
    monkeypatch.setattr("serving.rescore_ray._ray", lambda: ray)
    with pytest.raises(Stop):
        rescore_with_ray(url, store_root, model, model_version=VERSION, prefer="cpu",
                         max_pixels=MAX_PIXELS)  # fmt: skip
    assert ray.seen, "Ray was not started for the restored photo"
    at_start = ray.seen[0]
    assert at_start.outcomes == {1: None, 3: None, 4: MISSING_FILE}  # 2's is discarded
    assert at_start.status == "running"


# --- all three on one run of the pipeline ------------------------------------------------------


@pytest.mark.slow
def test_one_pipeline_run_holds_the_lock_scores_restored_and_late_photos_then_finishes(
    tmp_path: Path, model: Path, local_ray: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, url, store_root = cli_service(tmp_path, 4, model)
    run_id = finished_ray_run(url, model, [1, 3], [2, 4])  # 2 is back in the store since
    _lose(url, store_root, 4)
    late = late_upload(url, PhotoStore(store_root), day=10, seed=1)
    promote = ("rescore", "promote", "--model", model, "--config", config, "--no-progress")
    during: list[tuple[RunState, Any]] = []
    write_sql = local_ray.data.Dataset.write_sql

    def write_while_promote_tries(self: Any, *args: Any, **kwargs: Any) -> Any:
        during.append((_state(url, run_id), run_cli(*promote)))
        return write_sql(self, *args, **kwargs)

    monkeypatch.setattr(local_ray.data.Dataset, "write_sql", write_while_promote_tries)
    report = rescore_with_ray(
        url, store_root, model, model_version=VERSION, batch_size=2, prefer="cpu",
        max_pixels=MAX_PIXELS,
    )  # fmt: skip

    [(state, refused)] = during
    assert (state.status, state.finished) == ("running", False)
    assert error_code(refused) == "rescore_busy", refused.output
    assert f"another re-scoring under {VERSION} is running ({RAY_HOLDER}" in str(refused.exception)
    assert (report.run_id, report.restored, report.written_now) == (run_id, 1, 2)
    assert report.complete and (report.in_scope, report.scored, report.failed) == (5, 4, 1)
    after = _state(url, run_id)
    assert (after.status, after.finished) == ("done", True)
    assert after.outcomes == {1: None, 2: None, 3: None, 4: MISSING_FILE, late: None}
    assert not list((tmp_path / "data").glob(".rescore-*.lock"))  # released
