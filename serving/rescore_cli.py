"""`shanyraq rescore`: score every stored photo under a new model, resumably; `rescore discard`
deletes a run no promotion adopted; `rescore promote` (serving/rescore_promote_cli.py) adopts
the finished re-scores in the service. Thin CLI layer.

Exit status of `shanyraq rescore` (its --help says the same), so a script or cron job tells
the outcomes apart: 0, the run finished; 3 (`rescore_unfinished`), it stopped with photos in
scope still to score: run it again to resume; 2, an error, `photo_store_damaged` among them
(the run finished but for originals the store could not give: restore them, run it again);
130, interrupted (Ctrl-C): run it again to resume.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from serving.rescore_promote_cli import promote
from serving.rescore_report import report_lines
from shanyraq.errors import ShanyraqError
from shanyraq.shell_words import config_option, word

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from serving.core.config import ServingSettings
    from serving.rescore import RescoreReport
    from serving.rescore_runs import Restart
    from vision.bulk import BytesScorer

# No help= here: it would replace the callback's docstring (typer), hiding how to resume.
app = typer.Typer(no_args_is_help=False)
app.command("promote")(promote)


class RescoreUnfinishedError(ShanyraqError):
    """The run stopped with photos in scope it has still to score; running the command again
    resumes it. Its own exit status, so a script tells it from a finished run (0) and from an
    error (2, `photo_store_damaged` among them)."""

    code = "rescore_unfinished"
    exit_code = 3

    @classmethod
    def of(cls, report: RescoreReport, again: str) -> RescoreUnfinishedError:
        """`again`: the command that resumes the run, as the user gave it."""
        damaged = (
            f"; {report.store_damaged} original(s) the store could not give are named once it "
            "finishes (photo_store_damaged)"
            if report.store_damaged
            else ""
        )
        others = (
            f", {report.by_other_runs} an outcome from another run under {report.model_version}"
            if report.by_other_runs
            else ""
        )
        return cls(
            f"re-scoring run {report.run_id} under {report.model_version} is not finished: of "
            f"{report.in_scope} photo(s) in scope, {report.scored} have a new score and "
            f"{report.failed} a recorded reason from this run{others}; "
            f"{_still_to_score(report)}{damaged}. Run `{again}` again to resume it"
        )


def _still_to_score(report: RescoreReport) -> str:
    if report.still_to_score:
        return (
            f"{report.still_to_score} photo(s) are still to score (uploaded while it scored, say)"
        )
    return "photos committed while it scored are still to score"


class DeviceChoice(StrEnum):
    auto = "auto"
    cpu = "cpu"
    gpu = "gpu"


def _parse_since(value: str | None) -> datetime | None:
    """A --since: a day (midnight UTC), or a moment in ISO 8601, which the Ray pipeline's runs
    may have been given (UTC when it names no offset)."""
    if value is None:
        return None
    try:
        when = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", value):  # the right form, but no such day
            raise typer.BadParameter(
                f"there is no day {value!r} in the calendar (month 1-12, day within the "
                "month); check the date"
            ) from None
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise typer.BadParameter(
                f"{value!r} is not a date; write it as YYYY-MM-DD (or an ISO 8601 moment, "
                "e.g. 2026-01-01T12:00:00+00:00)"
            ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


_CONFIG_HELP = "serving.yaml to use (default: configs/)."


@app.callback(invoke_without_command=True)
def rescore(
    ctx: typer.Context,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", exists=True, file_okay=False, help="Model artifact folder to score with."
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only photos uploaded on or after this date (YYYY-MM-DD, UTC)."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Photos per batch.")] = 256,
    device: Annotated[
        DeviceChoice, typer.Option(help="auto: the GPU path when usable, else the CPU.")
    ] = DeviceChoice.auto,
    config: Annotated[Path | None, typer.Option(help=_CONFIG_HELP)] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart",
            help="Start an unfinished run over under the current scorer, engine settings and "
            "code, discarding its scores so far (a finished one: `rescore discard`).",
        ),
    ] = False,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="Score again the photos in scope recorded without a score (an error of the "
            "moment, a photo over the stored-photo limit raised since), also after a promotion.",
        ),
    ] = False,
) -> None:
    """Re-score stored photos under a new model; `rescore promote` then adopts the scores.

    Run it again after a crash or Ctrl-C and it resumes where it stopped; run again after it
    finished, it scores the photos uploaded since under the old model. A resume must use
    the scorer path, engine settings and code the run started with (or --restart; a finished
    run no promotion adopted: `rescore discard`, then run again). New scores are written
    under the new model version; the service keeps showing the old ones until `shanyraq
    rescore promote --model DIR` adopts them. A photo recorded without a score keeps it until
    --retry-failed scores it again (an undecodable photo fails again; a restored original is
    scored again without it).

    Exit status: 0 when the run finished; 3 when it stopped unfinished (rescore_unfinished:
    run it again to resume); 2 on an error, photo_store_damaged included (the run finished
    but for originals the store could not give: restore them, then run it again); 130 on
    Ctrl-C (run it again to resume).
    """
    if ctx.invoked_subcommand is not None:
        _refuse_own_options(ctx, ctx.invoked_subcommand)
        return
    if model is None:
        raise typer.BadParameter("give the model to score with: --model DIR", param_hint="--model")
    from serving.cli import load_settings, open_with_key
    from serving.stored_decode import stored_limit
    from shanyraq.config import get_settings as get_shanyraq_settings
    from vision.bulk import open_scorer
    from vision.engine import get_engine_config

    settings = load_settings(config)
    when = _parse_since(since)
    # Stored originals passed the upload limit in force when they were filed: read under the
    # stored-photo limit (serving.storage.decode_stored), not recorded as too large.
    scorer = open_scorer(
        model, prefer=device.value,
        max_pixels=stored_limit(get_shanyraq_settings().io.max_pixels),
        decode_short_side=get_engine_config().decode_short_side_px,
    )  # fmt: skip
    from serving.rescore_lock import rescore_lock
    from serving.rescore_runs import unfinished_runs

    db_engine, key = open_with_key(settings, may_create=False, config=config)
    try:
        runs = functools.partial(unfinished_runs, db_engine, scorer.model_version)
        with rescore_lock(settings.data_dir, scorer.model_version, runs=runs, command="rescore"):
            _rescore(settings, db_engine, key, scorer, model_dir=model, since=since, when=when,
                     batch_size=batch_size, progress=progress, restart=restart,
                     retry_failed=retry_failed, config=config,
                     again=_again(model, since, device, config))  # fmt: skip
    finally:
        db_engine.dispose()


def _again(model: Path, since: str | None, device: DeviceChoice, config: Path | None) -> str:
    """The command that resumes this run: its options, less --restart (that would discard it),
    each given value one word of it as a shell reads it (a folder with a space, say)."""
    words = ["shanyraq rescore", f"--model {word(model)}"]
    words += [f"--since {word(since)}"] if since else []
    words += [f"--device {device.value}"] if device is not DeviceChoice.auto else []
    return " ".join(words) + config_option(config)


def _refuse_own_options(ctx: typer.Context, subcommand: str) -> None:
    """Refuse `rescore`'s own options given before a subcommand: the subcommand never sees
    them, so `rescore --since DAY discard --model DIR` discarded the run of every photo, and
    `rescore --config FILE discard ...` worked on the default configs' database."""
    from shanyraq.errors import CommandUsageError

    given = [
        "/".join([*param.opts, *param.secondary_opts])
        for param in ctx.command.params
        if param.name
        and getattr(ctx.get_parameter_source(param.name), "name", None)
        in ("COMMANDLINE", "ENVIRONMENT")
    ]
    if given:
        raise CommandUsageError(
            f"{', '.join(given)} given before `{subcommand}` would be ignored by it: options "
            f"of `shanyraq rescore {subcommand}` go after its name (`shanyraq rescore "
            f"{subcommand} --help` lists them); nothing was done"
        )


def _rescore(
    settings: ServingSettings,
    db_engine: Engine,
    key: bytes,
    scorer: BytesScorer,
    *,
    model_dir: Path,
    since: str | None,
    when: datetime | None,
    batch_size: int,
    progress: bool,
    restart: bool,
    retry_failed: bool,
    config: Path | None,
    again: str,
) -> None:
    from serving import audit
    from serving.cli import anchored_sessions
    from serving.db.session import session_scope
    from serving.rescore import PhotoStoreDamagedError
    from serving.rescore import rescore as run_rescore
    from serving.storage import PhotoStore

    typer.echo(f"scoring with model {scorer.model_version} on the {scorer.name} path")
    if when is not None and when > datetime.now(UTC):
        typer.echo(
            f"warning: --since {since} is in the future (today is {datetime.now(UTC):%Y-%m-%d} "
            "UTC): no stored photo was uploaded on or after it, so this run scores none; "
            "check the date",
            err=True,
        )

    def audit_restart(session: Session, restarted: Restart) -> None:
        # In the transaction that discards the outcomes: recorded even if scoring then stops.
        audit.append(
            session, key, actor="cli", action="rescore_restarted",
            target=f"model:{restarted.model_version}", details=restarted.details(),
        )  # fmt: skip
        typer.echo(
            f"started run {restarted.run_id} over: discarded {restarted.discarded_scored} "
            f"score(s) and {restarted.discarded_failed} recorded failure(s)"
        )

    report = run_rescore(
        db_engine, PhotoStore(settings.store_dir), scorer, since=when, batch_size=batch_size,
        progress=progress, restart=restart, on_restart=audit_restart, model_dir=model_dir,
        audit_anchor_file=settings.resolved_audit_anchor_file, retry_failed=retry_failed,
        config=config,
    )  # fmt: skip
    with session_scope(anchored_sessions(settings, db_engine, config)) as session:
        audit.append(
            session, key, actor="cli", action="photos_rescored",
            target=f"model:{report.model_version}",
            details={"run_id": report.run_id, "since": since, "scored": report.scored,
                     "failed": report.failed, "complete": report.complete, "restart": restart,
                     "store_damaged": report.store_damaged, "restored": report.restored,
                     "store_damaged_by_run": report.store_damaged_by_run,
                     "by_other_runs": report.by_other_runs,
                     "still_to_score": report.still_to_score,
                     # What this call wrote: "scored" and "failed" are the run's totals.
                     "scored_now": report.scored_now, "failed_now": report.failed_now,
                     "reopened": report.reopened, "retried_failed": report.retried,
                     "provenance": asdict(report.provenance) if report.provenance else None},
        )  # fmt: skip
    for line in report_lines(report):
        typer.echo(line)
    if not report.complete:  # before store damage: running it again resumes it either way
        raise RescoreUnfinishedError.of(report, again)
    if report.store_damaged:
        raise PhotoStoreDamagedError.of(report, settings.store_dir)


@app.command("discard")
def discard(
    model: Annotated[
        Path,
        typer.Option(
            "--model", exists=True, file_okay=False, help="Model artifact whose run to discard."
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option(
            help="The run's --since (YYYY-MM-DD, or the ISO 8601 moment a Ray run was given), "
            "if it was given one."
        ),
    ] = None,
    ray: Annotated[
        bool,
        typer.Option(
            "--ray", help="The Ray pipeline's run (serving.rescore_ray), not one of `rescore`."
        ),
    ] = False,
    config: Annotated[Path | None, typer.Option(help=_CONFIG_HELP)] = None,
) -> None:
    """Delete a re-scoring run that no promotion adopted, with its scores (audited).

    For a run that cannot go on under the current scorer path, engine settings, code or model
    files: a finished run is not started over with --restart, nor is the Ray pipeline's. After
    this, `shanyraq rescore --model DIR` (or the Ray pipeline) makes a new run that scores
    every photo in scope under the current ones. A run whose scores `rescore promote` adopted
    is kept (rescore_discard_refused).
    """
    from serving import audit
    from serving.cli import anchored_sessions, load_settings, open_with_key
    from serving.db.session import session_scope
    from serving.rescore_discard import discard_run
    from serving.rescore_lock import rescore_lock
    from serving.rescore_runs import since_key_of, unfinished_runs
    from vision.artifact import read_artifact

    settings = load_settings(config)
    when = _parse_since(since)
    version = read_artifact(model).model_version
    db_engine, key = open_with_key(settings, may_create=False, config=config)
    try:
        runs = functools.partial(unfinished_runs, db_engine, version)
        with (
            rescore_lock(settings.data_dir, version, runs=runs, command="rescore discard"),
            session_scope(anchored_sessions(settings, db_engine, config)) as session,
        ):
            gone = discard_run(session, version, since_key_of(when, ray=ray), model=model,
                               config=config)  # fmt: skip
            audit.append(
                session, key, actor="cli", action="rescore_discarded",
                target=f"model:{version}", details=gone.details(),
            )  # fmt: skip
    finally:
        db_engine.dispose()
    state = "finished" if gone.status == "done" else "unfinished"
    again = f"`{_again(model, since, DeviceChoice.auto, config)}`"  # on the same database
    typer.echo(
        f"discarded re-scoring run {gone.run_id} under {version} ({state}): deleted "
        f"{gone.discarded_scored} score(s) and {gone.discarded_failed} recorded failure(s); run "
        f"{'the Ray pipeline' if ray else again} to score under the current scorer, engine "
        "settings, code and model files"
    )
