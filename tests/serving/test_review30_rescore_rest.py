"""Re-scoring, review 30 (the rest): the ways out the refusals name lead somewhere, in the words
of the caller who is refused.

1. The Ray pipeline's refusal of a finished run no promotion adopted, under other code, said
   "discard it ... and run this command again ...; or run this command again as the run was
   started": no command starts the pipeline; it names its call, as given.
2. A new run beside a run a promotion stopped half-way adopted in part, under other settings,
   was told only to finish the promotion; where the settings the run recorded are gone, that
   promotion is refused for photos uploaded since, so it names `rescore promote --adopt-rest`
   too, and followed on the command line its words end in a promotion.
3. `rescore promote --dry-run --adopt-rest` printed the plan without saying the promotion stops
   for the photos with no score; it says so, and how many.
4. `rescore promote --help` named --adopt-rest only in the option's own help.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving.db.models import Photo, RescoredScore, RescoreRun
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.rescore_ray import rescore_with_ray
from serving.rescore_runs import RescoreResumeError
from serving.storage import PhotoStore
from tests.serving.cli_helpers import error_code, run_cli
from tests.serving.rescore_command_helpers import follow_command, promotion_entries_at
from tests.serving.rescore_fixtures import STOPPED
from tests.serving.rescore_helpers import (
    ADOPT_REST_WALK,
    MAX_PIXELS,
    NEW_CODE,
    OLD_CODE,
    VERSION,
    cli_service,
    half_promoted_then_updated,
    late_upload,
    new_code,
    on_model,
    promotions,
    stopped_ray_run,
    unfinished_half_promoted,
)

ADOPT_REST = "`shanyraq rescore promote --model DIR --adopt-rest --config {config}`"  # as told


# --- 1. the Ray pipeline's refusal of a run no promotion adopted names its call --------------


@pytest.mark.parametrize("retry_failed", [False, True], ids=["plain", "retry-failed"])
def test_a_ray_run_no_promotion_adopted_is_told_its_own_call_twice(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch, no_ray: None, retry_failed: bool
) -> None:
    """A finished run of the pipeline (photo 3 recorded without a score), a photo uploaded
    since, the code updated: the refusal names discarding it, then the pipeline's call as it
    was made (retry_failed=True too, where it was given), for both ways on."""
    _, url, store_root = cli_service(tmp_path, 3, model)
    new_code(monkeypatch, OLD_CODE)
    run_id = stopped_ray_run(url, model, [1, 2], done=True)
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        session.add(RescoredScore(photo_id=3, model_version=VERSION, run_id=run_id, score=None,
                                  error="an error of the moment"))  # fmt: skip
        session.get_one(RescoreRun, run_id).failed = 1
    engine.dispose()
    late_upload(url, PhotoStore(store_root), day=10, seed=1)
    new_code(monkeypatch, NEW_CODE)
    with pytest.raises(RescoreResumeError) as refused:
        rescore_with_ray(url, store_root, model, model_version=VERSION, prefer="cpu",
                         max_pixels=MAX_PIXELS, retry_failed=retry_failed)  # fmt: skip
    message = refused.value.message
    call = f"`rescore_with_ray(...{', retry_failed=True' if retry_failed else ''})`"
    # With retry_failed too, the 3 outcomes the discard deletes: as before the failure's retry.
    assert (
        "No promotion adopted its scores: to score under the current ones, discard it with "
        "`shanyraq rescore discard --model DIR --ray` (its 3 outcome(s) are deleted) and call "
        f"{call} again, which scores every photo anew; or call {call} again as the run was "
        "started"
    ) in message
    assert "this command" not in message


# --- 2. a new run beside a half-promoted run whose settings are gone --------------------------


def _new_run(model: Path, config: Path) -> Any:
    return run_cli("rescore", "--model", model, "--config", config, "--since", "2026-01-11",
                "--device", "cpu", "--no-progress")  # fmt: skip


def test_a_new_run_beside_a_half_promoted_run_names_adopt_rest_and_its_words_end_in_a_promotion(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new run the code update calls for is refused beside run 1's outcomes still to adopt;
    finishing the promotion is refused for the late photo, which only the old code could score.
    The refusal names --adopt-rest: followed, it adopts the rest of run 1 and stops for the late
    photo, whose new run the stop names; that run scores it, and the promotion adopts it."""
    config, url, late = half_promoted_then_updated(tmp_path, model, monkeypatch)
    refused = _new_run(model, config)
    assert error_code(refused) == "rescore_provenance_conflict", refused.output
    said = refused.exception.message
    assert "finish the promotion first" in said
    adopt_rest = ADOPT_REST.format(config=config)
    assert (
        f"where the settings run 1 recorded are gone (the code updated since, say), {adopt_rest} "
        "adopts the rest of run 1's outcomes"
    ) in said

    _, stopped = follow_command(said[said.index(adopt_rest) :], model, config)
    assert error_code(stopped) == "rescore_scope_partial", stopped.output
    _, scored = follow_command(stopped.exception.message, model, config)
    assert scored.exit_code == 0, scored.output
    promoted = run_cli("rescore", "promote", "--model", model, "--config", config, "--no-progress")
    assert promoted.exit_code == 0, promoted.output
    assert promotions(url) == ADOPT_REST_WALK
    assert on_model(url) == {1, 2, 3, late}


def test_a_new_run_beside_an_unfinished_half_promoted_run_names_adopt_rest(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run 1 reopened for the late photo and stopped before scoring it: finishing it as it was
    started needs the old code, so --adopt-rest is named beside that way."""
    config, _ = unfinished_half_promoted(tmp_path, model, monkeypatch)
    refused = _new_run(model, config)
    assert error_code(refused) == "rescore_provenance_conflict", refused.output
    said = refused.exception.message
    assert "(unfinished, promoted in part: a promotion stopped half-way)" in said
    assert "then finish the promotion" in said
    adopt_rest = ADOPT_REST.format(config=config)
    assert (
        f"where the settings run 1 recorded are gone (the code updated since, say), {adopt_rest}"
    ) in said


# --- 3. the dry run of --adopt-rest says where it stops ----------------------------------------


def test_the_dry_run_of_adopt_rest_says_it_stops_for_the_photos_with_no_score(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Printed as the promotion then does: the rest of run 1 adopted, stopped for the one late
    photo (uploaded 2026-01-11), which a new run from that day scores."""
    config, url, late = half_promoted_then_updated(tmp_path, model, monkeypatch)
    common = ("--model", model, "--config", config)
    dry = run_cli("rescore", "promote", *common, "--dry-run", "--adopt-rest")
    assert dry.exit_code == 0, dry.output
    assert "photos to update: 2;" in dry.output
    assert (
        f"with --adopt-rest it stops unfinished ({STOPPED}) for 1 photo(s) with no score under "
        f"{VERSION}, uploaded from 2026-01-11 on (they keep their current score): then "
        f"`shanyraq rescore --model DIR --since 2026-01-11 --config {config}` scores them under "
        "the current "
        "settings, and promote again"
    ) in " ".join(dry.output.split())
    assert "dry run: nothing was written" in dry.output
    assert [action for action, _ in promotion_entries_at(url)] == [
        STOPPED
    ]  # the Ctrl-C only: none written

    plain = run_cli("rescore", "promote", *common, "--dry-run")  # without it: refused, as before
    assert error_code(plain) == "rescore_scope_partial", plain.output
    assert "stops unfinished" not in plain.output

    stopped = run_cli("rescore", "promote", *common, "--adopt-rest", "--no-progress")
    assert error_code(stopped) == "rescore_scope_partial", stopped.output
    assert stopped.exception.message.startswith(
        f"1 photo(s), uploaded from 2026-01-11 on, have no score under {VERSION}"
    )
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        assert session.get_one(Photo, late).model_version != VERSION
    engine.dispose()


def test_the_dry_run_of_adopt_rest_with_every_photo_scored_says_nothing_of_a_stop(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No photo uploaded since: --adopt-rest is a plain promotion, and its dry run says so."""
    new_code(monkeypatch, OLD_CODE)
    config, _, _ = cli_service(tmp_path, 3, model)
    common = ("--model", model, "--config", config)
    assert run_cli("rescore", *common, "--device", "cpu", "--no-progress").exit_code == 0
    dry = run_cli("rescore", "promote", *common, "--dry-run", "--adopt-rest")
    assert dry.exit_code == 0, dry.output
    assert "photos to update: 3;" in dry.output
    assert "stops unfinished" not in dry.output


# --- 4. the command's help names --adopt-rest ---------------------------------------------------


def test_promote_help_describes_adopt_rest() -> None:
    """The description, not only the option's own help (which the option list prints)."""
    from serving.rescore_promote_cli import promote as promote_command

    description = " ".join((promote_command.__doc__ or "").split())
    assert "--adopt-rest" in description
    shown = run_cli("rescore", "promote", "--help")
    assert shown.exit_code == 0, shown.output
    shown_words = " ".join(shown.output.split()).replace("--adopt- rest", "--adopt-rest")
    assert "--adopt-rest adopts the rest" in shown_words  # as wrapped at 80 columns
