"""Re-scoring, review 15: the Ray pipeline's refusals name the same ways out as `rescore`'s
(`rescore discard --ray`, one source for the words), and a run it started at a moment is
named, and discarded, by that moment; each of its actors checks the model files it loads;
`rescore promote` refuses a model folder whose files are not those a run scored with.

The digest of model_fp16.onnx, and a promoted run reopened, are tested in
test_rescore_review15_resume.py."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving.db.models import AuditEntry, RescoredScore, RescoreRun
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.promote import promote
from serving.promote_plan import plan
from serving.rescore import rescore
from serving.rescore_provenance import artifact_digest
from serving.rescore_ray import expected_provenance, rescore_with_ray
from serving.rescore_ray_actor import ScoreBatch
from serving.rescore_runs import RescoreMixError, RescoreResumeError, discard_command
from serving.rescore_service_model import ServingModelMismatchError
from serving.storage import PhotoStore
from tests.serving.cli_helpers import error_code, run_cli
from tests.serving.rescore_fixtures import CountingScorer, tiny_model
from tests.serving.rescore_helpers import (
    KEY,
    MAX_PIXELS,
    PLAIN_DISCARD,
    RAY_DISCARD,
    VERSION,
    cli_service,
    late_upload,
    new_code,
    recalibrate,
    run_rows,
    stopped_ray_run,
    stored_with_scorer,
)
from vision.bulk import open_scorer


def _ray(url: str, store_root: Path, model: Path) -> Any:
    return rescore_with_ray(
        url, store_root, model, model_version=VERSION, prefer="cpu", max_pixels=MAX_PIXELS
    )


# --- 1. the Ray pipeline's refusals name `rescore discard` ----------------------------------


def test_a_ray_run_resumed_with_an_edited_model_names_discard_and_discard_takes_it(
    tmp_path: Path, model_copy: Path, no_ray: None
) -> None:
    config, url, store_root = cli_service(tmp_path, 4, model_copy)
    stopped_ray_run(url, model_copy, [1, 2])  # stopped part-way
    recalibrate(model_copy)  # an edited copy under the same model version
    with pytest.raises(RescoreResumeError) as refused:
        _ray(url, store_root, model_copy)
    message = refused.value.message
    assert "model artifact digest" in message and "Resuming would mix" in message
    # The pipeline has no --restart: discarding the run is its way to the current files.
    assert "--restart" not in message
    assert f"{RAY_DISCARD} (its 2 outcome(s) are deleted)" in message

    missing = run_cli("rescore", "discard", "--model", model_copy, "--config", config)
    assert error_code(missing) == "rescore_discard_refused"  # the plain run: none
    gone = run_cli("rescore", "discard", "--model", model_copy, "--ray", "--config", config)
    assert gone.exit_code == 0, gone.output
    assert "discarded re-scoring run 1 under test-0 (unfinished): deleted 2 score(s)" in (
        gone.output
    )
    assert run_rows(url) == []
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        entries = session.execute(select(AuditEntry)).scalars().all()
        assert session.execute(select(RescoredScore)).first() is None
    engine.dispose()
    assert [(e.action, e.details["since_key"]) for e in entries] == [("rescore_discarded", "ray:")]


@pytest.mark.parametrize("ray", [False, True], ids=["rescore", "ray"])
def test_after_an_update_a_finished_run_of_either_path_is_refused_in_the_same_words(
    tmp_path: Path, model_copy: Path, monkeypatch: pytest.MonkeyPatch, no_ray: None, ray: bool
) -> None:
    config, url, store_root = cli_service(tmp_path, 3, model_copy)
    new_code(monkeypatch, "0.1.0+aaaaaaaaaaaa")
    if ray:
        stopped_ray_run(url, model_copy, [1, 2, 3], done=True)
    else:
        scored = run_cli("rescore", "--model", model_copy, "--config", config, "--device", "cpu",
                         "--no-progress")  # fmt: skip
        assert scored.exit_code == 0, scored.output
    new_code(monkeypatch, "0.1.0+bbbbbbbbbbbb")
    if ray:  # nothing to score: no refusal, and Ray is not started for nothing
        report = _ray(url, store_root, model_copy)
        assert report.complete and report.written_now == 0
    late_upload(url, PhotoStore(store_root), day=10, seed=1)
    if ray:
        with pytest.raises(RescoreResumeError) as refused:
            _ray(url, store_root, model_copy)
        message = refused.value.message
    else:
        result = run_cli("rescore", "--model", model_copy, "--config", config, "--device", "cpu",
                         "--no-progress")  # fmt: skip
        assert error_code(result) == "rescore_resume_mismatch", result.output
        message = result.exception.message
    # The command told carries the --config it was given; the Ray pipeline takes none.
    way = RAY_DISCARD if ray else PLAIN_DISCARD.replace("DIR`", f"DIR --config {config}`")
    again = "call `rescore_with_ray(...)`" if ray else "run this command"  # no command starts Ray
    assert "is finished, and was started with another code version '0.1.0+aaaaaaaaaaaa'" in message
    assert (
        f"No promotion adopted its scores: to score under the current ones, {way} (its 3 "
        f"outcome(s) are deleted) and {again} again, which scores every photo anew; or "
        f"{again} again as the run was started"
    ) in message
    assert "--restart" not in message


def test_a_run_refused_for_a_ray_runs_outcomes_names_discarding_that_one(
    tmp_path: Path, model_copy: Path, no_ray: None
) -> None:
    _, url, store_root = cli_service(tmp_path, 4, model_copy)
    stopped_ray_run(url, model_copy, [1, 2])  # the Ray pipeline's run, unfinished, on the CPU path
    engine = make_engine(url)
    store = PhotoStore(store_root)
    scorer = open_scorer(model_copy, prefer="cpu", max_pixels=MAX_PIXELS, decode_short_side=1024)
    gpu = CountingScorer(scorer, name="gpu")
    with pytest.raises(RescoreMixError) as unfinished:
        rescore(engine, store, gpu, progress=False, model_dir=model_copy)
    said = unfinished.value.message
    assert "the Ray pipeline's re-scoring run 1 under test-0 (unfinished) holds 2" in said
    assert f"{RAY_DISCARD} (its 2 outcome(s) are deleted)" in said
    with session_scope(make_session_factory(engine)) as session:
        session.execute(select(RescoreRun)).scalar_one().status = "done"
    with pytest.raises(RescoreMixError) as finished:
        rescore(engine, store, gpu, progress=False, model_dir=model_copy)
    assert "promote it first" in finished.value.message and RAY_DISCARD in finished.value.message
    assert gpu.seen == []
    engine.dispose()


def test_each_ray_actor_checks_the_model_files_it_loads(tmp_path: Path, model_copy: Path) -> None:
    """On a cluster each node reads the model folder from its own disk: an actor whose copy is
    not the one the run recorded would mix two models' scores under one run."""
    recorded = expected_provenance(
        model_copy, prefer="cpu", num_gpus_per_actor=0, decode_short_side=None
    )
    actor: dict[str, Any] = {
        "model_dir": str(model_copy), "store_root": str(tmp_path / "photos"), "run_id": 1,
        "db_url": f"sqlite:///{tmp_path / 'db.sqlite'}", "prefer": "cpu",
        "max_pixels": MAX_PIXELS, "decode_short_side": None, "provenance": recorded,
    }  # fmt: skip
    ScoreBatch(**actor)
    recalibrate(model_copy)
    with pytest.raises(RescoreResumeError) as refused:
        ScoreBatch(**actor)
    message = refused.value.message
    assert str(model_copy) in message and recorded.model_artifact in message  # type: ignore[operator]
    assert artifact_digest(model_copy) in message and "same model folder" in message


# --- 2. promotion compares the run's model files with the folder promoted -------------------


def test_promote_refuses_a_folder_edited_since_the_run_scored_with_it(
    tmp_path: Path, model_copy: Path
) -> None:
    config, url, _ = cli_service(tmp_path, 3, model_copy)
    scored = run_cli("rescore", "--model", model_copy, "--config", config, "--device", "cpu",
                     "--no-progress")  # fmt: skip
    assert scored.exit_code == 0, scored.output
    recorded = artifact_digest(model_copy)
    as_scored = (model_copy / "model.json").read_bytes()
    recalibrate(model_copy)  # the service's model_dir is this folder: model.json agrees

    command = ("rescore", "promote", "--model", model_copy, "--config", config, "--no-progress")
    for attempt in (run_cli(*command), run_cli(*command[:-1], "--dry-run")):
        assert error_code(attempt) == "rescore_model_files_mismatch", attempt.output
        message = attempt.exception.message
        assert f"re-scoring run 1 under test-0 was scored with model files {recorded!r}" in message
        assert f"{model_copy} holds {artifact_digest(model_copy)!r}" in message
        assert "promote the model folder the run scored with" in message
        discard = PLAIN_DISCARD.replace("DIR`", f"DIR --config {config}`")
        assert f"{discard} (its 3 outcome(s) are deleted)" in message
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        assert session.execute(select(AuditEntry.action)).scalars().all() == ["photos_rescored"]
    engine.dispose()

    (model_copy / "model.json").write_bytes(as_scored)  # the files the run scored with
    promoted = run_cli(*command)
    assert promoted.exit_code == 0, promoted.output
    assert "photos to update: 3" in promoted.output


def test_promote_does_not_compare_what_an_earlier_promotion_adopted(
    tmp_path: Path, model_copy: Path
) -> None:
    """A promoted run with nothing left to adopt is history: the folder may have changed since
    (a --since run under the edited copy is allowed once the first is promoted), else no
    promotion under the version could pass again. Nor is a run from before migration 0009."""
    _, stored, engine, scorer = stored_with_scorer(tmp_path, model_copy, 3)
    sessions = make_session_factory(engine)
    assert rescore(engine, stored.store, scorer, progress=False, model_dir=model_copy).complete
    with session_scope(sessions) as session:  # as a run recorded before migration 0009
        session.execute(select(RescoreRun)).scalar_one().model_artifact = None
    unknown = artifact_digest(model_copy)
    recalibrate(model_copy)
    assert plan(sessions, model_dir=model_copy, serving_model_dir=model_copy).to_update == 3
    promote(sessions, KEY, model_dir=model_copy, serving_model_dir=model_copy, actor="cli")
    with session_scope(sessions) as session:  # as recorded: the files before the edit
        session.execute(select(RescoreRun)).scalar_one().model_artifact = unknown
    again = plan(sessions, model_dir=model_copy, serving_model_dir=model_copy)
    assert again.to_update == 0 and again.already_on_model == 3
    engine.dispose()


def test_promote_refuses_a_service_copy_with_another_graph_under_the_same_version(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, model_copy: Path
) -> None:
    _, stored, engine, scorer = stored_with_scorer(tmp_path, model_copy, 2)
    sessions = make_session_factory(engine)
    assert rescore(engine, stored.store, scorer, progress=False, model_dir=model_copy).complete
    served = tmp_path / "served-copy"
    shutil.copytree(model_copy, served)
    assert plan(sessions, model_dir=model_copy, serving_model_dir=served).to_update == 2
    other = tiny_model(tmp_path_factory.mktemp("other"), seed=1)
    shutil.copyfile(other / "model.onnx", served / "model.onnx")  # model.json left as it was
    with pytest.raises(ServingModelMismatchError) as refused:
        plan(sessions, model_dir=model_copy, serving_model_dir=served)
    message = refused.value.message
    assert f"{served} holds test-0 with another model.onnx than {model_copy}" in message
    assert "set model_dir" in message
    engine.dispose()


# --- 3. a run the pipeline started at a moment is named, and discarded, by it -----------------


def test_a_ray_run_given_a_moment_is_named_by_it_and_discarded_with_it(
    tmp_path: Path, model_copy: Path
) -> None:
    """The pipeline takes any datetime for `since`; a run of 12:00 was named `--since DAY`,
    which names the run of midnight: no command could reach it."""
    config, url, _ = cli_service(tmp_path, 2, model_copy)
    moment = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    run_id = stopped_ray_run(url, model_copy, [], since=moment, done=True)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        assert discard_command(session.get_one(RescoreRun, run_id)) == (
            "`shanyraq rescore discard --model DIR --ray --since 2026-01-01T12:00:00+00:00`"
        )
    engine.dispose()
    day = run_cli("rescore", "discard", "--model", model_copy, "--ray", "--since", "2026-01-01",
                  "--config", config)  # fmt: skip
    assert error_code(day) == "rescore_discard_refused"  # midnight's run: none
    gone = run_cli("rescore", "discard", "--model", model_copy, "--ray", "--since",
                   "2026-01-01T12:00:00+00:00", "--config", config)  # fmt: skip
    assert gone.exit_code == 0, gone.output
    assert run_rows(url) == []
    bad = run_cli(
        "rescore", "discard", "--model", model_copy, "--since", "noon", "--config", config
    )
    assert bad.exit_code != 0 and "ISO 8601" in bad.output
