"""The words of re-scoring's refusals to go on with a run, and the ways on they name.

serving/rescore_runs.py decides when a run may not go on; this module says why, and what works
instead, as the caller re-scores: `shanyraq rescore` by its options ("run this command"), the
Ray pipeline by its call (serving/rescore_words.py `this_call`), since no command starts it.
`mix_message`: another run holds unpromoted outcomes of another provenance (`check_unmixed`);
where a promotion stopped half-way adopted some of them, finishing it is the way, or, where
the settings that run recorded are gone, `rescore promote --adopt-rest`
(serving/rescore_coverage.py). `resume_refusal`: the run itself was started under another
provenance (`check_resume`). `restart_refusal`: a run that may not be started over
(`_start_over`). Split from serving/rescore_runs.py.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from serving.db.models import RescoreRun
from serving.rescore_runs import (
    RAY_KEY,
    discard_command,
    discard_way,
    held_outcomes,
    is_promoted,
    is_ray,
    run_options,
    told_config,
)
from serving.rescore_words import (
    adopt_rest_way,
    finish_promotion,
    promote_command,
    retry_option,
    this_call,
)
from shanyraq.shell_words import config_option


def _owner(run: RescoreRun) -> str:
    return "the Ray pipeline's " if is_ray(run) else ""


def mix_message(
    other: RescoreRun, held: int, differs: list[str], *, half: bool, config: Path | None = None
) -> str:
    """The refusal while `other`, not promoted, holds `held` outcomes of another provenance;
    `half`: a promotion that stopped half-way adopted some of them, and the rest wait for it
    (or, where the settings `other` recorded are gone, are adopted by `adopt_rest_way`'s).
    The commands it tells carry `config`, the --config the refused command was given."""
    options = run_options(other.since_key)
    given = config_option(config)
    since = options.removeprefix(" --ray").strip()
    done = other.status == "done"
    state = "finished" if done else "unfinished"
    finish = (
        "finish it with the Ray pipeline under the settings it recorded"
        if is_ray(other)
        else f"finish it as it was started (`shanyraq rescore --model DIR{options}{given}` "
        "with the settings it recorded)"
    )
    if half:
        state += ", promoted in part: a promotion stopped half-way"
        how = (
            f"{finish_promotion(done=done, finish=finish, config=config)}; then re-score (the "
            "run is kept: some of its outcomes are the service's scores already)"
            f"{adopt_rest_way(other.id, config=config)}"
        )
    elif done:
        state += ", not promoted"
        how = (
            f"promote it first ({promote_command(config)}), then re-score; or, to re-score "
            f"under the current ones, {discard_way(other, held, config)}"
        )
    elif is_ray(other):
        how = f"{finish} and promote it, or {discard_way(other, held, config)}"
    else:
        how = (
            f"{finish} and promote it, or discard it with `shanyraq rescore --model DIR"
            f"{options} --restart{given}` under the current ones"
        )
    return (
        f"{_owner(other)}re-scoring run {other.id} under "
        f"{other.model_version} ({since + ', ' if since else ''}{state}) holds {held} "
        f"outcome(s) made with another {'; '.join(differs)}. Promotion adopts every outcome "
        f"under the model version, from all its runs, so the two would mix. To go on: {how}"
    )


def resume_refusal(
    session: Session, run: RescoreRun, differs: list[str], retry_failed: bool
) -> str:
    """Why `run` does not go on under the current provenance, and the ways that work: as it
    was started; or under the current one, by --restart (an unfinished run of `rescore`) or
    by `rescore discard` (a finished run, or the Ray pipeline's, which has no --restart); a
    run a promotion adopted as it was started, or by a new run, after the promotion where one
    stopped half-way (serving/rescore_reopened.py `kept_way`). Named as the caller re-scores:
    the refused call again, the Ray pipeline's by its call's arguments (`this_call`). The
    commands it tells carry the --config the command was given (`told_config`)."""
    from serving.rescore_reopened import kept_way

    config = told_config(session)
    head = f"{_owner(run)}re-scoring run {run.id} under {run.model_version}"
    another = f"another {'; '.join(differs)}"
    if run.status == "done":
        which = "restored to the photo store, or uploaded since it finished"
        if retry_failed:
            retry = retry_option(ray=is_ray(run))
            which = f"recorded without a score, which {retry} scores again; {which}"
        why = (
            f"{head} is finished, and was started with {another}. It has photos still to score "
            f"({which}), and scoring them now would mix scores of both in one run"
        )
    else:
        why = f"{head} was started with {another}. Resuming would mix scores of both in one run"
    if is_promoted(session, run):  # as started: the refused call again, as its caller makes it
        return kept_way(session, run, why, retry_failed=retry_failed, config=config)
    outcomes = held_outcomes(session, run)  # with a retry's failures, which it rolls back
    if run.status != "done" and not is_ray(run):
        return (
            f"{why}. Resume it as it was started, or start it over under the current ones with "
            f"--restart (its {outcomes} outcome(s) so far are discarded)"
        )
    moment = run.since_key.removeprefix(RAY_KEY)  # the refused call's since, as the run's
    again = this_call(moment, ray=is_ray(run), retry_failed=retry_failed)
    return (
        f"{why}. No promotion adopted its scores: to score under the current ones, "
        f"{discard_way(run, outcomes, config)} and {again} again, which scores every photo "
        "anew; or "
        f"{again} again as the run was started"
    )


def restart_refusal(session: Session, run: RescoreRun) -> str:
    """Why a run is not started over (finished, or adopted by a promotion even if reopened
    since: its outcomes are the service's scores), and what to do instead."""
    head = f"re-scoring run {run.id} under {run.model_version}"
    if is_promoted(session, run):
        return (
            f"{head}: `rescore promote` adopted its scores (the service's scores come from its "
            "outcomes), so it cannot be started over; run it without --restart"
        )
    return (
        f"{head} is finished, so it cannot be started over. To keep its scores, run it without "
        "--restart; to score every photo again under the current scorer, engine settings, code "
        f"and model files (no promotion adopted its scores), discard it with "
        f"{discard_command(run, told_config(session))}, then run it without --restart"
    )
