"""How re-scoring's messages name the way the caller re-scores: `shanyraq rescore` by its options,
the Ray pipeline (serving/rescore_ray.py) by its call and arguments, since no command starts it.

A refusal tells the operator what to run next, so it names it as the caller runs it: "which
--retry-failed scores again" to `shanyraq rescore --retry-failed`, "which retry_failed=True
scores again" to `rescore_with_ray(..., retry_failed=True)` (`retry_option`); a new run as the
command or the call (`new_run_command`, `ray_call`); the refused call, to be made again
(`this_call`), or a run's own way on where another command refused it (`run_again`); and the
reason recorded for a photo over the stored-photo limit, in `rescore`'s words or a Ray actor's
(`oversize_reason`, which serving/rescore_photos.py `stored_outcomes` records). A run a
promotion stopped half-way adopted in part is named one way by every refusal: the promotion is
finished first (`finish_promotion`, `half_promoted_way`), and what it needs scored first by the
run as it was started (`half_promoted_scope`); where its settings are gone, the promotion with
ADOPT_REST (`adopt_rest_way`, and what it stops for: `adopt_rest_stops`). Words only: the callers
(serving/rescore_refusals.py, serving/rescore_reopened.py, serving/rescore_discard.py,
serving/rescore_coverage.py, serving/rescore_promote_cli.py) read the runs.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from shanyraq.shell_words import config_option, word

RAY_CALL = "rescore_with_ray"  # serving.rescore_ray's entry point
ADOPT_REST = "--adopt-rest"  # `rescore promote`'s, after a stopped promotion (`adopt_rest_way`)


def retry_option(*, ray: bool) -> str:
    """What asks a call to score again the photos recorded without a score."""
    return "retry_failed=True" if ray else "--retry-failed"


def since_argument(moment: str) -> str:
    """`rescore_with_ray`'s `since` for a moment as a run key holds it (UTC, ISO 8601): a day
    at midnight UTC as `datetime(Y, M, D, tzinfo=UTC)`, any other moment as written."""
    if moment.endswith("T00:00:00+00:00"):
        day = date.fromisoformat(moment[:10])
        return f"since=datetime({day.year}, {day.month}, {day.day}, tzinfo=UTC)"
    return f"since=datetime.fromisoformat({moment!r})"


def ray_call(moment: str, *, retry_failed: bool = False) -> str:
    """The pipeline's call for the run of `moment` ("": every photo), as
    `rescore_with_ray(..., since=..., retry_failed=True)`; "..." is the call's other arguments."""
    given = [since_argument(moment)] if moment else []
    if retry_failed:
        given.append("retry_failed=True")
    return f"`{RAY_CALL}(...{''.join(f', {argument}' for argument in given)})`"


def promote_command(config: Path | None = None) -> str:
    """`rescore promote` as a refusal tells it (`config`: the --config the refused command was
    given, None where none)."""
    return f"`shanyraq rescore promote --model DIR{config_option(config)}`"


def new_run_command(day: date, *, ray: bool, retry_failed: bool, config: Path | None = None) -> str:
    """The run from `day` (UTC) that scores the photos no run has scored: `shanyraq rescore
    --since DAY` (with the --config `config` the refused command was given); for the Ray
    pipeline its call, with the command as the way on one machine."""
    option = " --retry-failed" if retry_failed else ""
    command = (
        f"`shanyraq rescore --model DIR --since {day.isoformat()}{option}{config_option(config)}`"
    )
    if not ray:
        return command
    call = ray_call(f"{day.isoformat()}T00:00:00+00:00", retry_failed=retry_failed)
    return (
        f"{call} (serving.rescore_ray, with the call's other arguments; on one machine, {command})"
    )


def this_call(moment: str, *, ray: bool, retry_failed: bool = False) -> str:
    """The refused call itself, to be made again, as a refusal names it: "run this command" to
    `shanyraq rescore` (the options as given), the pipeline's call with the run's `since`
    (`moment`) and retry_failed=True where it was given to the Ray pipeline, which no command
    starts."""
    return f"call {ray_call(moment, retry_failed=retry_failed)}" if ray else "run this command"


def run_again(
    moment: str, *, ray: bool, options: str, model: str = "DIR", config: Path | None = None
) -> str:
    """A run's own way on, as a refusal names it: the pipeline's call with the run's `since`
    (`moment`, its key without the pipeline's prefix), or `shanyraq rescore` with `options`
    (`model`: the folder, one word of the command as a shell reads it; `config`: the --config
    the refused command was given, None where none)."""
    command = f"`shanyraq rescore --model {word(model)}{options}{config_option(config)}`"
    return f"call {ray_call(moment)}" if ray else f"run {command}"


def oversize_reason(
    max_pixels: int | None,
    *,
    ray_discard: str | None = None,
    config: Path | None = None,
    model: Path | None = None,
    options: str = "",
) -> str:
    """What a re-scoring records for a stored original over the stored-photo limit it reads
    under (`max_pixels`): the administrator's remedy, then the way to score it again:
    `shanyraq rescore --retry-failed`, its commands with the --config `config` the re-scoring
    was given (None: none), so that they act on the site whose run recorded it; or for a Ray
    actor (`ray_discard`: the command that discards the actor's run, with its --config) the
    pipeline's call. `model`: the folder the one-machine run's scorer was opened from, and
    `options` the options naming that run (serving/rescore_runs.py `run_options`): the retry
    and the discard name that run, the discard with the --model the CLI requires (None: both
    name DIR, for the administrator to fill in)."""
    over = f"the {max_pixels / 1e6:g} MP limit" if max_pixels else "the limit"
    given, run = config_option(config), f" --model {word(model or 'DIR')}{options}"
    retry = f"`shanyraq rescore{run} --retry-failed{given}` ("
    discard = f"`shanyraq rescore discard{run}{given}`"
    if ray_discard is not None:
        retry = f"{ray_call('', retry_failed=True)} (serving.rescore_ray; "
        discard = ray_discard
    return (
        f"the stored original is over {over} stored photos are re-scored under; an "
        f"administrator can raise io.stored_max_pixels (configs/shanyraq.yaml), then score it "
        f"with {retry}before and after a promotion; a run no promotion adopted can also be "
        f"deleted, {discard}, and re-scored)"
    )


def finish_promotion(*, done: bool, finish: str, config: Path | None = None) -> str:
    """How a run a promotion stopped half-way adopted in part lets other settings score: a
    finished run by finishing the promotion first; an unfinished one (which a promotion
    refuses) by `finish`, the way to finish it, then the promotion (`config`: the --config
    given, None where none)."""
    first = "finish the promotion first" if done else f"{finish}, then finish the promotion"
    return f"{first}: run {promote_command(config)} again, which adopts the rest of its outcomes"


def half_promoted_way(
    *, done: bool, as_started: str, model_version: str, config: Path | None = None
) -> str:
    """The refusal's way on, for a run a promotion stopped half-way adopted in part, under
    other settings than it recorded (`as_started`: how to go on as it was started). A finished
    run's promotion is refused while a photo uploaded since it finished has no outcome; only
    the run as started may score it then, the others being refused beside its outcomes."""
    kept = (
        "A promotion stopped half-way adopted some of its scores, so it is kept, and no run "
        "scores under the current ones beside the outcomes it has still to adopt (the next "
        "promotion would adopt both kinds together)"
    )
    if not done:
        finish = finish_promotion(done=False, finish=f"finish it ({as_started})", config=config)
        return f"{kept}: {finish}"
    return (
        f"{kept}: {finish_promotion(done=True, finish='', config=config)} (it is refused while a "
        f"photo uploaded since the run finished has no score under {model_version}: then first "
        f"{as_started}, which scores it{adopt_rest_way(config=config)})"
    )


def adopt_rest_way(
    run_id: int | None = None, *, model: str = "DIR", config: Path | None = None
) -> str:
    """The way on where the settings recorded by a run a promotion stopped half-way adopted in
    part (`run_id`; None: the run refused) are gone, so it cannot score the photos uploaded
    since as it was started: the promotion with ADOPT_REST (serving/rescore_coverage.py)
    adopts the rest of its outcomes without them, and leaves them to a new run (`config`: the
    --config the refused command was given, None where none)."""
    run = f"run {run_id}" if run_id else "the run"
    promote = f"shanyraq rescore promote --model {word(model)} {ADOPT_REST}{config_option(config)}"
    return (
        f"; or, where the settings {run} recorded are gone (the code updated since, say), "
        f"`{promote}` adopts the rest of {run}'s "
        "outcomes, stops short of the photos with no score, and a new run under the current "
        "settings then scores them"
    )


def adopt_rest_stops(
    count: int, *, day: str, model_version: str, stopped: str, config: Path | None = None
) -> str:
    """What a promotion with ADOPT_REST does, in its dry run, for the `count` photos with no
    score under `model_version` (uploaded from `day` on): it stops unfinished (audited as
    `stopped`) for them, and a run under the current settings (on the --config `config`)
    then scores them."""
    return (
        f"with {ADOPT_REST} it stops unfinished ({stopped}) for {count} photo(s) with no score "
        f"under {model_version}, uploaded from {day} on (they keep their current score): then "
        f"`shanyraq rescore --model DIR --since {day}{config_option(config)}` scores them under "
        "the current settings, "
        "and promote again"
    )


def half_promoted_scope(run_id: int, *, again: str) -> str:
    """`rescore promote`'s way for photos no run covered while a promotion stopped half-way
    has outcomes of run `run_id` still to adopt: a new run under other settings is refused
    beside them (`half_promoted_way`), so the run as it was started (`again`: `run_again`)
    scores them."""
    return (
        f"a promotion stopped half-way adopted some of run {run_id}'s scores, and no run scores "
        "under other settings beside the outcomes it has still to adopt, so "
        f"{again} as run {run_id} was started (with the settings it recorded), which scores them"
    )
