"""`shanyraq rescore`: score every stored photo under a new model, resumably; `rescore promote`
adopts the finished re-scores in the service. Thin CLI layer."""

from __future__ import annotations

import functools
from dataclasses import asdict
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from serving.core.config import ServingSettings
    from serving.promote import PromoteReport, PromotionPlan
    from serving.rescore import RescoreReport
    from serving.rescore_runs import Restart
    from vision.bulk import BytesScorer

# No help= here: it would replace the callback's docstring (typer), hiding how to resume.
app = typer.Typer(no_args_is_help=False)


class DeviceChoice(StrEnum):
    auto = "auto"
    cpu = "cpu"
    gpu = "gpu"


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD") from None
    return day.replace(tzinfo=UTC)


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
            "code, discarding its scores so far.",
        ),
    ] = False,
) -> None:
    """Re-score stored photos under a new model; `rescore promote` then adopts the scores.

    Run it again after a crash or Ctrl-C and it resumes where it stopped; run again after it
    finished, it scores the photos uploaded since under the old model. A resume must use
    the scorer path, engine settings and code the run started with (or --restart). New
    scores are written under the new model version; the service keeps showing the old ones
    until `shanyraq rescore promote --model DIR` adopts them.
    """
    if ctx.invoked_subcommand is not None:
        return
    if model is None:
        raise typer.BadParameter("give the model to score with: --model DIR", param_hint="--model")
    from serving.cli import load_settings, open_with_key
    from shanyraq.config import get_settings as get_shanyraq_settings
    from vision.bulk import open_scorer
    from vision.engine import get_engine_config

    settings = load_settings(config)
    when = _parse_since(since)
    scorer = open_scorer(
        model, prefer=device.value, max_pixels=get_shanyraq_settings().io.max_pixels,
        decode_short_side=get_engine_config().decode_short_side_px,
    )  # fmt: skip
    from serving.rescore_lock import rescore_lock
    from serving.rescore_runs import unfinished_runs

    db_engine, key = open_with_key(settings, may_create=False)
    try:
        runs = functools.partial(unfinished_runs, db_engine, scorer.model_version)
        with rescore_lock(settings.data_dir, scorer.model_version, runs=runs):
            _rescore(settings, db_engine, key, scorer, since=since, when=when,
                     batch_size=batch_size, progress=progress, restart=restart)  # fmt: skip
    finally:
        db_engine.dispose()


def _rescore(
    settings: ServingSettings,
    db_engine: Engine,
    key: bytes,
    scorer: BytesScorer,
    *,
    since: str | None,
    when: datetime | None,
    batch_size: int,
    progress: bool,
    restart: bool,
) -> None:
    from serving import audit
    from serving.db.session import make_session_factory, session_scope
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
        progress=progress, restart=restart, on_restart=audit_restart,
    )  # fmt: skip
    with session_scope(make_session_factory(db_engine)) as session:
        audit.append(
            session, key, actor="cli", action="photos_rescored",
            target=f"model:{report.model_version}",
            details={"run_id": report.run_id, "since": since, "scored": report.scored,
                     "failed": report.failed, "complete": report.complete, "restart": restart,
                     "store_damaged": report.store_damaged, "restored": report.restored,
                     "provenance": asdict(report.provenance) if report.provenance else None},
        )  # fmt: skip
    for line in report_lines(report):
        typer.echo(line)
    if report.store_damaged:
        raise PhotoStoreDamagedError.of(report, settings.store_dir)


def report_lines(report: RescoreReport) -> list[str]:
    """The final report, in plain words."""
    state = "complete" if report.complete else "INCOMPLETE (run the command again to resume)"
    if report.complete and report.store_damaged:
        state = f"complete but for {report.store_damaged} photo(s) the store could not give"
    lines = [
        f"re-scoring run {report.run_id} under {report.model_version}: {state}",
        f"  photos in scope: {report.in_scope}; scored: {report.scored}; "
        f"without a score (reason recorded): {report.failed}",
        f"  this session: {report.this_session} photo(s) in {report.seconds:.1f} s "
        f"({report.photos_per_s:.1f} photos/s) on the {report.scorer} path"
        + (", resumed from an earlier session" if report.resumed else "")
        + (f", {report.restored} restored photo(s) scored again" if report.restored else ""),
    ]
    if report.provenance is not None:
        lines.append(
            f"  run recorded: {report.provenance.scorer} path, engine settings "
            f"{report.provenance.engine_config}, code {report.provenance.code_version}"
        )
    lines += [f"  photo {photo_id}: {why}" for photo_id, why in report.failures[:10]]
    return lines


@app.command("promote")
def promote(
    model: Annotated[
        Path,
        typer.Option(
            "--model", exists=True, file_okay=False, help="Model artifact whose re-scores to adopt."
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would change; write nothing.")
    ] = False,
    reassess: Annotated[
        bool,
        typer.Option(
            "--reassess", help="Then recompute the latest assessment of each affected family."
        ),
    ] = False,
    as_user: Annotated[
        str | None,
        typer.Option(
            "--as", help="Admin account recorded as the actor (required with --reassess)."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Photos per transaction.")] = 500,
    config: Annotated[Path | None, typer.Option(help=_CONFIG_HELP)] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    allow_rules_only: Annotated[
        bool,
        typer.Option(
            "--allow-rules-only",
            help="With --reassess: recompute even when no fusion model is configured while "
            "the assessments rest on one (they then get no level and need review).",
        ),
    ] = False,
) -> None:
    """Adopt the re-scores under a model in the service: photos' scores and model version.

    Refused unless the re-scoring is finished and has tried every photo, the model fits
    configs/taxonomy.yaml, and the service's model_dir is this model. A photo it could not
    score (file missing or undecodable) keeps its old score and is listed. Safe to run again.
    --reassess without the service's fusion model is refused (fusion_model_missing) before
    anything is promoted, and so is its dry run, when the assessments to recompute rest on
    one.
    """
    from serving import promote as promotion
    from serving.cli import load_settings, open_database, open_with_key
    from serving.db.session import make_session_factory

    if reassess and as_user is None:
        raise typer.BadParameter("--reassess records new assessments: give --as ADMIN_NAME")
    settings = load_settings(config)
    allow_rules_only = allow_rules_only or settings.allow_rules_only
    if dry_run:
        # Writes nothing: no migration (a database behind this version is refused,
        # database_not_migrated), a read-only engine, and sessions that refuse to flush.
        _dry_run_promote(
            open_database(settings, may_create=False, migrate=False), settings, model, as_user,
            reassess=reassess, allow_rules_only=allow_rules_only,
        )  # fmt: skip
        return
    db_engine, key = open_with_key(settings, may_create=False)
    sessions = make_session_factory(db_engine)
    try:
        actor = _promote_actor(sessions, as_user)
        if reassess:
            _refuse_rules_only(sessions, settings, model, allow_rules_only=allow_rules_only)
        report = promotion.promote(
            sessions, key, model_dir=model, serving_model_dir=settings.model_dir,
            batch_size=batch_size, actor=actor[1] if actor else "cli",
        )  # fmt: skip
    finally:
        db_engine.dispose()
    for line in promote_lines(report):
        typer.echo(line)
    if reassess and actor is not None:
        _reassess(
            settings, report.plan.model_version, actor, progress=progress,
            allow_rules_only=allow_rules_only,
        )  # fmt: skip


def _promote_actor(sessions: sessionmaker[Session], as_user: str | None) -> tuple[int, str] | None:
    """The --as account, checked: reassessing covers every region, so a national admin
    (refused in promote's own words: it has no --region)."""
    from serving.reassessment import RefreshRegionForbiddenError, resolve_refresh_actor

    if as_user is None:
        return None
    with sessions() as session:
        try:
            return resolve_refresh_actor(session, as_user, region=None)
        except RefreshRegionForbiddenError:
            raise RefreshRegionForbiddenError(
                f"{as_user!r} is an admin of one region only, and `rescore promote --reassess` "
                "reassesses every region: run it as a national admin (an admin without a "
                "region), or promote without --reassess and let each regional admin run "
                "`shanyraq assessments refresh --region REGION`"
            ) from None


def _refuse_rules_only(
    sessions: sessionmaker[Session],
    settings: ServingSettings,
    model: Path,
    *,
    allow_rules_only: bool,
    found: PromotionPlan | None = None,
) -> None:
    """Refuse --reassess (reassessment.refuse_rules_only) before the promotion writes anything,
    when no fusion model is configured and the assessments it would recompute rest on one:
    those of the families the promotion makes stale, and of those already on the model's
    scores whose assessments are stale (`found`: the promotion's plan, if measured already)."""
    from serving import promote as promotion
    from serving import reassessment
    from serving.assessments import NO_FUSION

    fusion = reassessment.configured_fusion_version(settings)
    if fusion != NO_FUSION or allow_rules_only:
        return  # nothing to refuse: the promotion is not measured for it
    if found is None:
        found = promotion.plan(sessions, model_dir=model, serving_model_dir=settings.model_dir)
    with sessions() as session:
        already = reassessment.stale_families(session, found.model_version)
        families = sorted({*found.stale_families, *already})
        used = reassessment.recorded_fusion(session, families)
    reassessment.refuse_rules_only(used, fusion=fusion, allow_rules_only=allow_rules_only)


def _dry_run_promote(
    db_engine: Engine,
    settings: ServingSettings,
    model: Path,
    as_user: str | None,
    *,
    reassess: bool,
    allow_rules_only: bool,
) -> None:
    """What promoting `model` would change, printed; read through sessions that refuse to
    flush. With `reassess`, refused as the run would be (`_refuse_rules_only`). Disposes of
    `db_engine`."""
    from serving import promote as promotion
    from serving.db.session import make_read_session_factory

    sessions = make_read_session_factory(db_engine)
    try:
        _promote_actor(sessions, as_user)
        found = promotion.plan(sessions, model_dir=model, serving_model_dir=settings.model_dir)
        if reassess:
            _refuse_rules_only(
                sessions, settings, model, allow_rules_only=allow_rules_only, found=found
            )
    finally:
        db_engine.dispose()
    for line in plan_lines(found, dry_run=True):
        typer.echo(line)


def _reassess(
    settings: ServingSettings,
    model_version: str,
    actor: tuple[int, str],
    *,
    progress: bool,
    allow_rules_only: bool,
) -> None:
    import asyncio

    from serving.app import build_services
    from serving.reassessment import reassess

    services = build_services(settings)
    try:
        made = reassess(
            services, model_version=model_version, actor=actor, progress=progress,
            allow_rules_only=allow_rules_only,
        )  # fmt: skip
    finally:
        asyncio.run(services.pipeline.aclose())
        services.db_engine.dispose()
        if services.read_engine is not None:
            services.read_engine.dispose()
    typer.echo(f"reassessed {len(made)} family(ies) on the promoted scores")


def plan_lines(plan: PromotionPlan, *, dry_run: bool) -> list[str]:
    """What a promotion changes, in plain words."""
    from serving.score_shift import shift_lines

    head = "would promote" if dry_run else "promoted"
    lines = [
        f"{head} model {plan.model_version} (re-scoring runs {', '.join(map(str, plan.run_ids))})",
        f"  photos to update: {plan.to_update}; already on this model: {plan.already_on_model}; "
        f"keeping their old score (no score under this model): {len(plan.kept_old)}",
    ]
    lines += [f"    photo {photo_id}: {why}" for photo_id, why in list(plan.kept_old.items())[:10]]
    lines.append("score shift over the photos to update, current -> new:")
    lines += shift_lines(plan.shift)
    lines.append(
        f"families whose latest assessment goes stale: {len(plan.stale_families)} "
        f"({plan.stale_with_decision} with a commission decision on it)"
        + ("; --reassess recomputes them" if plan.stale_families else "")
    )
    lines += [f"  {family_id}" for family_id in plan.stale_families[:20]]
    if len(plan.stale_families) > 20:
        lines.append(f"  ... and {len(plan.stale_families) - 20} more")
    if dry_run:
        lines.append("dry run: nothing was written")
    return lines


def promote_lines(report: PromoteReport) -> list[str]:
    lines = plan_lines(report.plan, dry_run=False)
    lines.append(
        f"updated now: {report.updated} photo(s); scores sha256 {report.scores_sha256[:16]}; "
        + ("audited" if report.audited else "already promoted and audited: nothing changed")
    )
    return lines
