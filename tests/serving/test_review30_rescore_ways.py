"""Re-scoring, review 30: the ways out its refusals name lead somewhere, and no sentence is
rewritten after it is made.

1. `rescore discard`'s refusal named a promoted run's own command by rewriting the words of
   `new_run_way` ("run this command again") after the fact; `new_run_way` takes that way as an
   argument now (`again`), with the same words.
2. After a promotion stopped by photos uploaded while it ran, and an update, the --since run its
   refusal names was refused while another run of the old settings held outcomes none of which
   was left to adopt (its photos all recorded without a score): "promote it first", and the
   promotion named the --since run again. Followed through the command line, the words end in
   a promotion now.
3. The Ray pipeline's refusals of a run a promotion adopted, all or in part, said "run this
   command again as the run was started": no command starts the pipeline, and `shanyraq
   rescore` is another run (refused beside a half-promoted one); they name its call.
4. A promotion stopped half-way, a photo uploaded since and the settings its run recorded gone
   (the code updated): the promotion, a new run, the run and its discard were all refused.
   `rescore promote --adopt-rest` adopts the rest of the run and stops for the photo, which a
   new run under the current code then scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving import audit
from serving.cli import anchored_sessions, load_settings, open_with_key
from serving.db.models import Photo, RescoreRun
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.promote import promote
from serving.rescore import rescore
from serving.rescore_coverage import RescoreScopePartialError
from serving.rescore_ray import rescore_with_ray
from serving.rescore_reopened import kept_way, new_run_way
from serving.rescore_runs import RescoreResumeError
from serving.storage import PhotoStore
from tests.serving.cli_helpers import error_code, run_cli
from tests.serving.rescore_command_helpers import follow_command
from tests.serving.rescore_fixtures import (
    STOPPED,
    cpu_scorer,
)
from tests.serving.rescore_helpers import (
    ADOPT_REST_WALK,
    KEY,
    NEW_CODE,
    OLD_CODE,
    VERSION,
    cli_service,
    half_promoted_then_updated,
    late_upload,
    new_code,
    on_model,
    promotions,
    record_promotion,
    stopped_ray_run,
)

PROMOTE = "`shanyraq rescore promote --model DIR`"


# --- 1. `new_run_way` names the run's own way on as its caller asks -------------------------


def _promoted_run_stopped_part_way(tmp_path: Path, model: Path, monkeypatch: Any) -> Any:
    """Run 1 of every photo, promoted, reopened for a photo uploaded since and stopped before
    scoring it, then the code updated; the engine."""
    new_code(monkeypatch, OLD_CODE)
    _, url, store_root = cli_service(tmp_path, 3, model)
    engine = make_engine(url)
    assert rescore(engine, PhotoStore(store_root), cpu_scorer(model), progress=False).complete
    record_promotion(engine, [1])
    late_upload(url, PhotoStore(store_root), day=10, seed=1)
    with session_scope(make_session_factory(engine)) as session:
        session.get_one(RescoreRun, 1).status = "running"  # reopened for it, then stopped
    new_code(monkeypatch, NEW_CODE)
    return engine


def test_new_run_way_names_the_way_on_it_is_given(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's own command given (as `rescore discard` names it) is the one that marks the
    run finished; by default it is the refused command itself, in the same words as before."""
    engine = _promoted_run_stopped_part_way(tmp_path, model, monkeypatch)
    own = "run `shanyraq rescore --model DIR`"
    with make_session_factory(engine)() as session:
        run = session.get_one(RescoreRun, 1)
        given = new_run_way(session, run, again=own)
        plain = new_run_way(session, run)
        kept = kept_way(session, run, "refused", as_started=f"{own} as started", again=own)
    closes = "again (with nothing left in its scope to score, it marks run 1 finished, scoring "
    assert f"then {own} {closes}nothing), then {PROMOTE}" in given
    assert "this command" not in given
    assert given == plain.replace("run this command again", f"{own} again")
    assert f"then run this command {closes}" in plain
    assert kept == f"refused. `rescore promote` adopted its scores, so it is kept: {own} as " + (
        f"started{given}"
    )
    engine.dispose()


# --- 2. the promotion stopped by late uploads: its words followed on the command line --------


def test_the_words_after_a_promotion_stopped_by_late_uploads_end_in_a_promotion(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run 1 scored every photo, run 2 (--since) only one whose original is lost (recorded
    without a score); the promotion adopted run 1 and stopped for a photo uploaded meanwhile;
    then the code was updated. Each command the refusals name, run in turn, is refused with no
    advice it had before, and the promotion then ends with the late photo on the model."""
    new_code(monkeypatch, OLD_CODE)
    config, url, store_root = cli_service(tmp_path, 3, model)
    store = PhotoStore(store_root)
    common = ("--model", model, "--config", config)
    assert run_cli("rescore", *common, "--device", "cpu", "--no-progress").exit_code == 0
    lost = late_upload(url, store, day=10, seed=1)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        store.path_for(session.get_one(Photo, lost).sha256).unlink()
    damaged = run_cli(
        "rescore", *common, "--since", "2026-01-11", "--device", "cpu", "--no-progress"
    )
    assert error_code(damaged) == "photo_store_damaged", damaged.output

    settings = load_settings(config)
    db_engine, key = open_with_key(settings, may_create=False)
    late: list[int] = []

    def upload_meanwhile(_done: int) -> None:  # the service, not restarted onto the model
        late.append(late_upload(url, store, day=20, seed=2))

    with pytest.raises(RescoreScopePartialError) as stopped:
        promote(anchored_sessions(settings, db_engine, None), key, model_dir=model,
                serving_model_dir=model, actor="cli", on_batch=upload_meanwhile)  # fmt: skip
    db_engine.dispose()
    assert "uploaded while this promotion ran" in stopped.value.message
    new_code(monkeypatch, NEW_CODE)

    message, said = stopped.value.message, [stopped.value.message]
    for _ in range(4):
        command, result = follow_command(message, model, config)
        if result.exit_code == 0:
            break
        assert error_code(result) is not None, result.output
        message = result.exception.message
        assert message not in said, f"{command} is refused as before: {message}"
        said.append(message)
    assert result.exit_code == 0, said
    promoted = run_cli("rescore", "promote", *common, "--no-progress")
    assert promoted.exit_code == 0, promoted.output
    with make_session_factory(engine)() as session:
        on_model = set(session.execute(select(Photo.id).where(Photo.model_version == VERSION)))
    assert {photo_id for (photo_id,) in on_model} == {1, 2, 3, *late}  # the lost one kept old
    engine.dispose()


# --- 3. the Ray pipeline's refusals name its call -------------------------------------------


def _stopped_promotion(engine: Any, run_ids: list[int]) -> None:
    """As a promotion stopped half-way audits the runs it adopted outcomes of."""
    with session_scope(make_session_factory(engine)) as session:
        audit.append(
            session, KEY, actor="cli", action=STOPPED, target=f"model:{VERSION}",
            details={"run_ids": run_ids, "updated": 1},
        )  # fmt: skip


@pytest.mark.parametrize("half", [False, True], ids=["promoted", "half-promoted"])
def test_a_ray_run_kept_under_other_code_is_told_its_own_call(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch, no_ray: None, half: bool
) -> None:
    """Stopped with photo 3 still to score, adopted by a promotion (all of it, or in part: a
    stopped promotion with its outcomes still to adopt), then the code updated: the refusal
    names the pipeline's call as the way as it was started, not "this command"."""
    new_code(monkeypatch, OLD_CODE)
    _, url, store_root = cli_service(tmp_path, 3, model)
    run_id = stopped_ray_run(url, model, [1, 2])  # every photo's, photo 3 left to score
    engine = make_engine(url)
    (_stopped_promotion if half else record_promotion)(engine, [run_id])
    engine.dispose()
    new_code(monkeypatch, NEW_CODE)

    with pytest.raises(RescoreResumeError) as refused:
        rescore_with_ray(url, store_root, model, model_version=VERSION, prefer="cpu",
                         max_pixels=50_000_000)  # fmt: skip
    message = refused.value.message
    as_started = "call `rescore_with_ray(...)` again as the run was started"
    if half:
        assert f"finish it ({as_started}), then finish the promotion: run {PROMOTE}" in message
    else:
        assert f"so it is kept: {as_started}; or, to score" in message
    assert "this command" not in message


# --- 4. a half-promoted run, a late upload, and the settings it recorded gone -----------------


def test_a_half_promoted_run_whose_settings_are_gone_adopts_the_rest_then_a_new_run_scores(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A promotion stopped after photo 1, a photo uploaded since, then the code updated: the
    promotion, a new run, the run itself and its discard were all refused, only the old code
    got out. `rescore promote --adopt-rest`, which the refusals name, adopts the rest of run 1
    and stops for the late photo (audited); the new run it names scores that photo under the
    current code, and the promotion adopts it, each promotion one run's scores."""
    config, url, late = half_promoted_then_updated(tmp_path, model, monkeypatch)
    common = ("--model", model, "--config", config)
    refused = {
        "promote": run_cli("rescore", "promote", *common, "--no-progress"),
        "run": run_cli("rescore", *common, "--device", "cpu", "--no-progress"),
        "new run": run_cli(
            "rescore", *common, "--since", "2026-01-11", "--device", "cpu", "--no-progress"
        ),
        "discard": run_cli("rescore", "discard", *common),
    }
    codes = {name: error_code(result) for name, result in refused.items()}
    assert codes == {
        "promote": "rescore_scope_partial", "run": "rescore_resume_mismatch",
        "new run": "rescore_provenance_conflict", "discard": "rescore_discard_refused",
    }  # fmt: skip
    adopt_rest = f"`shanyraq rescore promote --model {model} --adopt-rest --config {config}`"
    said = refused["promote"].exception.message
    assert (
        f"where the settings run 1 recorded are gone (the code updated since, say), {adopt_rest}"
        in (said)
    )
    assert f"`shanyraq rescore promote --model DIR --adopt-rest --config {config}`" in (
        refused["run"].exception.message
    )

    _, stopped = follow_command(said[said.index(adopt_rest) :], model, config)
    assert error_code(stopped) == "rescore_scope_partial", stopped.output
    message = stopped.exception.message
    assert "adopted the rest of what a stopped one left (--adopt-rest)" in message
    _, scored = follow_command(message, model, config)  # the new run, under the current code
    assert scored.exit_code == 0, scored.output
    promoted = run_cli("rescore", "promote", *common, "--no-progress")
    assert promoted.exit_code == 0, promoted.output

    assert promotions(url) == ADOPT_REST_WALK
    assert on_model(url) == {1, 2, 3, late}
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        runs = session.execute(select(RescoreRun.id, RescoreRun.code_version)).all()
    engine.dispose()
    assert sorted(runs) == [(1, OLD_CODE), (2, NEW_CODE)]
    assert run_cli("audit", "verify", "--config", config).exit_code == 0
