"""`shanyraq assessments refresh`: bring every stale assessment up to date at once (after a new
fusion model, a changed welfare config, edited records or photos). Thin CLI layer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shanyraq.shell_words import config_option, word

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from serving.assessments_refresh import Refreshed, RefreshReport
    from serving.core.config import ServingSettings
    from serving.reassessment import StaleAssessment
    from serving.state import Services

app = typer.Typer(help="Assessments: bring stale ones up to date.", no_args_is_help=True)


@app.callback()
def _assessments() -> None:
    """Assessments: bring stale ones up to date."""


@app.command("refresh")
def refresh(
    as_user: Annotated[
        str,
        typer.Option(
            "--as", help="Active admin recorded as the actor (a regional admin: its region only)."
        ),
    ],
    region: Annotated[
        str | None, typer.Option(help="Only families of this region (default: every region).")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Count the stale assessments per reason; write nothing."),
    ] = False,
    config: Annotated[
        Path | None, typer.Option(help="serving.yaml to use (default: configs/).")
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Progress bar (default: on a terminal)."),
    ] = None,
    allow_rules_only: Annotated[
        bool,
        typer.Option(
            "--allow-rules-only",
            help="Recompute even when no fusion model is configured while assessments rest on "
            "one (they then get no level and need review). Only for a site that really "
            "serves without a fusion model.",
        ),
    ] = False,
) -> None:
    """A new assessment version for each family whose latest one is stale, for any reason.

    Stale means it no longer rests on the family's record, its photos and their scores, the
    fusion model the service loads (from serving.yaml) or the decisive part of
    configs/welfare.yaml. One transaction per family; each new version is audited, and the
    run when it starts and when it ends. Safe to run again: a second run finds none. A family
    that cannot be recomputed (e.g. its record no longer validates) is named and the others
    are refreshed; the command then exits 2 (refresh_families_failed).

    Run it with the service's own settings (--config, SHANYRAQ_SERVING__*): without its
    fusion model it is refused (fusion_model_missing) when assessments rest on one, since
    recomputing them would leave the rules alone; --allow-rules-only overrides that.
    """

    from serving import assessments_refresh
    from serving.app import build_services, close_services
    from serving.cli import check_database, load_settings

    settings = load_settings(config)
    if dry_run:
        stale = _dry_run(settings, as_user, region, allow_rules_only=allow_rules_only,
                         config=config)  # fmt: skip
        for line in dry_run_lines(stale, region):
            typer.echo(line)
        return
    # Refused here, before build_services would make a missing database or key.
    check_database(settings, may_create=False, migrate=settings.auto_migrate, config=config)
    services = build_services(settings, config=config)
    try:
        with services.readers() as session:
            actor = refresh_actor(session, as_user, region=region, config=config)
        report = assessments_refresh.refresh(
            services, actor=actor, region=region, progress=progress,
            allow_rules_only=allow_rules_only,
        )  # fmt: skip
    finally:
        close_services(services)
    for line in report_lines(report):
        typer.echo(line)
    if report.failed:
        again = f" --as {word(as_user)}" + (f" --region {word(region)}" if region else "")
        again += config_option(config)
        raise assessments_refresh.RefreshFamiliesFailedError.of(report, again=again)


def _dry_run(
    settings: ServingSettings,
    as_user: str,
    region: str | None,
    *,
    allow_rules_only: bool,
    config: Path | None = None,
) -> list[StaleAssessment]:
    """The stale assessments a refresh by `as_user` would recompute, found without writing:
    no migration (a database behind this version is refused, database_not_migrated), no
    service built (it would make folders), read-only sessions on a read-only engine. What
    the refresh would refuse (fusion_model_missing included) is refused here too. The
    photos' repeats are asked of the reuse index the refresh's services build (`_readers`)."""
    from serving import reassessment
    from serving.cli import command_key, open_database
    from serving.db.session import make_read_session_factory

    engine = open_database(settings, may_create=False, migrate=False, config=config)
    try:
        key = command_key(settings, engine, may_create=False)  # the run would refuse none
        with make_read_session_factory(engine)() as session:
            refresh_actor(session, as_user, region=region, config=config)
            fusion = reassessment.configured_fusion_version(settings)
            services = _readers(settings, engine, key)
            stale = reassessment.stale_assessments(
                session, fusion=fusion, region=region, services=services
            )
    finally:
        engine.dispose()
    reassessment.refuse_rules_only(
        (s.fusion for s in stale), fusion=fusion,
        allow_rules_only=allow_rules_only or settings.allow_rules_only,
    )  # fmt: skip
    return stale


def _readers(settings: ServingSettings, engine: Engine, key: bytes) -> Services:
    """Services that only read (`engine`: a read-only one), holding the reuse index
    build_services makes (serving.app.build_reuse_index), over the stored photos: no folder
    is made, no model loaded, no worker started. stale_assessments asks the photos' repeats
    of it, as the refresh does of its own services."""
    from serving.app import build_reuse_index
    from serving.db.session import make_read_session_factory
    from serving.metrics import Metrics
    from serving.pipeline import PhotoPipeline
    from serving.ratelimit import RateLimiter
    from serving.state import Services
    from serving.storage import PhotoStore

    sessions = make_read_session_factory(engine)
    unused = RateLimiter(limit=1, what="nothing: a dry run serves no request")
    services = Services(
        settings=settings, db_engine=engine, sessions=sessions, read_engine=engine,
        read_sessions=sessions, store=PhotoStore(settings.store_dir), signing_key=key,
        login_limiter=unused, login_account_limiter=unused, upload_limiter=unused,
        pipeline=PhotoPipeline.from_config(None, None), metrics=Metrics(),
    )  # fmt: skip
    services.reuse = build_reuse_index(services)
    return services


def refresh_actor(
    session: Session, as_user: str, *, region: str | None, config: Path | None = None
) -> tuple[int, str]:
    """The --as account, checked (reassessment.resolve_refresh_actor), refused in a refresh's
    own words: a regional admin may refresh its region. `config`: the refresh's --config,
    which the command it names carries (the account is made in the same database)."""
    from serving.reassessment import ReassessActorError, resolve_refresh_actor

    try:
        return resolve_refresh_actor(session, as_user, region=region)
    except ReassessActorError:
        raise ReassessActorError(
            f"{as_user!r} is not an active admin account; a refresh is recorded as made by an "
            "admin: give an active admin's name (a regional admin refreshes its own region "
            f"with --region; `shanyraq users add NAME --role admin{config_option(config)}` "
            "makes one)"
        ) from None


def _scope(region: str | None) -> str:
    return f"in {region}" if region else "in every region"


def _reason_lines(counts: dict[str, int]) -> list[str]:
    from serving.assessments import STALE_REASONS

    return [f"  {reason}: {n} ({STALE_REASONS[reason]})" for reason, n in counts.items()]


def dry_run_lines(stale: list[StaleAssessment], region: str | None) -> list[str]:
    """What a refresh would recompute, per reason."""
    from serving.assessments_refresh import count_reasons

    lines = [f"stale assessments {_scope(region)}: {len(stale)}"]
    lines += _reason_lines(count_reasons(stale))
    lines.append("dry run: nothing was written")
    return lines


def report_lines(report: RefreshReport) -> list[str]:
    """The refresh's summary, per reason."""
    refreshed = report.refreshed
    lines = [
        f"refreshed {sum(refreshed.values())} of {len(report.families)} stale assessment(s) "
        f"{_scope(report.region)}"
    ]
    lines += _reason_lines(refreshed)
    if report.already_current:
        lines.append(
            f"  already current by their turn (recomputed meanwhile): {report.already_current}"
        )
    failed = [f for f in report.families if f.error is not None]
    if failed:
        lines.append(f"  not recomputed, still stale: {len(failed)}, per error:")
        lines += _failure_lines(failed)
        lines.append(
            "  every one with its error code: the run's assessments_refreshed audit entry "
            "(details.failed)"
        )
    lines.append("audited as a run: assessments_refresh_started, then assessments_refreshed")
    return lines


# Family ids named per error in the summary; the rest are counted ("and N more").
FAILED_SHOWN = 10


def _failure_lines(failed: list[Refreshed]) -> list[str]:
    """One line per error code, most frequent first: how many, its text (when all share it;
    else the first family's, as an example) and the first FAILED_SHOWN family ids. A run
    where every family fails the same way (e.g. a fusion model that does not match the
    config) then reads as one line, not one per family."""
    groups: dict[str, list[Refreshed]] = {}
    for f in failed:
        groups.setdefault(f.error or "", []).append(f)
    lines = []
    for code, group in sorted(groups.items(), key=lambda item: -len(item[1])):
        details = {f.detail for f in group}
        detail = (
            group[0].detail
            if len(details) == 1
            else f"e.g. {group[0].family_id}: {group[0].detail}"
        )
        shown = ", ".join(f.family_id for f in group[:FAILED_SHOWN])
        more = f" and {len(group) - FAILED_SHOWN} more" if len(group) > FAILED_SHOWN else ""
        lines.append(f"    [{code}] {len(group)}: {detail} (families: {shown}{more})")
    return lines
