"""`shanyraq rescore promote`: adopt the finished re-scores of a model in the service, and
recompute the assessments they make stale (--reassess). Thin CLI layer, registered on the
`rescore` group by serving/rescore_cli.py; split from it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from serving.rescore_promote_lines import plan_lines, promote_lines
from shanyraq.errors import ShanyraqError
from shanyraq.shell_words import config_option, word

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from serving.core.config import ServingSettings
    from serving.promote_plan import PromotionPlan

_CONFIG_HELP = "serving.yaml to use (default: configs/)."


# The exit status of a promotion done whose reassessment is not (a refusal is 2: nothing was
# promoted), so a script tells "run assessments refresh" from "fix and promote again".
PROMOTED_NOT_REASSESSED = 3


class ReassessStoppedError(ShanyraqError):
    """`rescore promote --reassess`: the promotion is done, but reassessing stopped."""

    code = "reassess_stopped"
    exit_code = PROMOTED_NOT_REASSESSED


class ReassessIncompleteError(ShanyraqError):
    """`rescore promote --reassess`: the promotion is done and the families that could be
    recomputed were; some could not (each named with its error) and keep a stale assessment."""

    code = "reassess_incomplete"
    exit_code = PROMOTED_NOT_REASSESSED


_FAILED_SHOWN = 10


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
    adopt_rest: Annotated[
        bool,
        typer.Option(
            "--adopt-rest",
            help="Adopt the rest of what a promotion stopped half-way left, though photos "
            "uploaded since have no score (for when the settings its run recorded are gone); "
            "it stops for those, which a new run then scores.",
        ),
    ] = False,
) -> None:
    """Adopt the re-scores under a model in the service: photos' scores and model version.

    Refused unless the re-scoring is finished and has tried every photo, the model fits
    configs/taxonomy.yaml, and the service's model_dir is this model. A photo it could not
    score (file missing, unreadable or damaged in the store, or undecodable) keeps its old
    score and is listed. Safe to run again: one stopped half-way (Ctrl-C, an error) keeps the
    scores it adopted, audited as scores_promotion_stopped, and running it again adopts the
    rest and audits the promotion; photos uploaded meanwhile by a service not yet restarted
    onto this model stop it so (rescore_scope_partial, exit 2). After one stopped half-way,
    where the settings its run recorded are gone (the code updated, say), --adopt-rest adopts
    the rest and stops so for the photos uploaded since, which a run under the current settings
    then scores before the next promotion. Refused (rescore_busy) while
    another re-scoring command of this model runs (rescore, rescore discard, rescore promote).
    --reassess without the service's fusion model is refused (fusion_model_missing) before
    anything is promoted, and so is its dry run, when the assessments to recompute rest on
    one. Families the reassessment cannot recompute (a record that no longer validates) are
    passed over and named at the end (reassess_incomplete), the others recomputed; one that
    stops after the promotion for another reason is reassess_stopped. Both name `shanyraq
    assessments refresh` for what is left, and exit 3 (a refusal exits 2: nothing promoted,
    unless it stopped part-way).
    """
    from serving import promote as promotion
    from serving.cli import anchored_sessions, load_settings, open_database, open_with_key

    if reassess and as_user is None:
        raise typer.BadParameter("--reassess records new assessments: give --as ADMIN_NAME")
    settings = load_settings(config)
    allow_rules_only = allow_rules_only or settings.allow_rules_only
    if dry_run:
        # Writes nothing: no migration (a database behind this version is refused,
        # database_not_migrated), a read-only engine, and sessions that refuse to flush.
        _dry_run_promote(
            open_database(settings, may_create=False, migrate=False, config=config),
            settings, model, as_user,
            reassess=reassess, allow_rules_only=allow_rules_only, adopt_rest=adopt_rest,
            config=config,
        )  # fmt: skip
        return
    db_engine, key = open_with_key(settings, may_create=False, config=config)
    # Anchored as every command's audit appends are: a promotion cut from the log's end
    # with the head rolled back is then caught by `audit verify`.
    sessions = anchored_sessions(settings, db_engine, config)
    try:
        actor = _promote_actor(sessions, as_user, reassess=reassess, config=config)
        # The re-scoring lock: no run of this model is scored, reopened for late photos or
        # discarded while its outcomes are adopted (rescore_busy, naming the holder).
        with _rescore_lock(settings, db_engine, model):
            if reassess:
                _refuse_rules_only(sessions, settings, model, allow_rules_only=allow_rules_only,
                                   adopt_rest=adopt_rest, config=config)  # fmt: skip
            report = promotion.promote(
                sessions, key, model_dir=model, serving_model_dir=settings.model_dir,
                batch_size=batch_size, actor=actor[1] if actor else "cli", adopt_rest=adopt_rest,
                config=config,
            )  # fmt: skip
    finally:
        db_engine.dispose()
    for line in promote_lines(report, config=config):
        typer.echo(line)
    if reassess and actor is not None:
        _reassess(
            settings, report.plan.model_version, actor, progress=progress,
            allow_rules_only=allow_rules_only, config=config,
        )  # fmt: skip


def _rescore_lock(
    settings: ServingSettings, db_engine: Engine, model: Path
) -> AbstractContextManager[None]:
    """The lock `shanyraq rescore` and `rescore discard` hold for `model`'s version."""
    import functools

    from serving.rescore_lock import rescore_lock
    from serving.rescore_runs import unfinished_runs
    from vision.artifact import read_artifact

    version = read_artifact(model).model_version
    runs = functools.partial(unfinished_runs, db_engine, version)
    return rescore_lock(settings.data_dir, version, runs=runs, command="rescore promote")


def _promote_actor(
    sessions: sessionmaker[Session],
    as_user: str | None,
    *,
    reassess: bool = True,
    config: Path | None = None,
) -> tuple[int, str] | None:
    """The --as account, checked: a promotion changes the scores of every region, and
    reassessing covers every region, so a national admin (refused in promote's own words: it
    has no --region, and without --reassess it reassesses nothing). `config`: the command's
    --config, which the refresh it names carries."""
    from serving.reassessment import (
        ReassessActorError,
        RefreshRegionForbiddenError,
        resolve_refresh_actor,
    )

    if as_user is None:
        return None
    with sessions() as session:
        try:
            return resolve_refresh_actor(session, as_user, region=None)
        except ReassessActorError:
            if reassess:
                raise
            raise ReassessActorError(
                f"{as_user!r} is not an active admin account; --as names the admin a "
                "promotion is recorded as made by: give an active national admin's name, or "
                "leave --as out (the promotion is then recorded as made by `cli`)"
            ) from None
        except RefreshRegionForbiddenError:
            if reassess:
                raise RefreshRegionForbiddenError(
                    f"{as_user!r} is an admin of one region only, and `rescore promote "
                    "--reassess` reassesses every region: run it as a national admin (an "
                    "admin without a region), or promote without --reassess and let each "
                    "regional admin run `shanyraq assessments refresh --region REGION "
                    f"--as NAME{config_option(config)}`"
                ) from None
            raise RefreshRegionForbiddenError(
                f"{as_user!r} is an admin of one region only, and a promotion changes the "
                "scores of photos in every region: give a national admin (an admin without a "
                "region) with --as, or leave --as out (then recorded as made by `cli`)"
            ) from None


def _refuse_rules_only(
    sessions: sessionmaker[Session],
    settings: ServingSettings,
    model: Path,
    *,
    allow_rules_only: bool,
    found: PromotionPlan | None = None,
    adopt_rest: bool = False,
    config: Path | None = None,
) -> None:
    """Refuse --reassess (reassessment.refuse_rules_only) before the promotion writes anything,
    when no fusion model is configured and the assessments it would recompute rest on one:
    those of the families the promotion makes stale, and of those already on the model's
    scores whose assessments are stale (`found`: the promotion's plan, if measured already)."""
    from serving import promote_plan, reassessment
    from serving.assessments import NO_FUSION

    fusion = reassessment.configured_fusion_version(settings)
    if fusion != NO_FUSION or allow_rules_only:
        return  # nothing to refuse: the promotion is not measured for it
    if found is None:
        found = promote_plan.plan(sessions, model_dir=model, serving_model_dir=settings.model_dir,
                                  adopt_rest=adopt_rest, config=config)  # fmt: skip
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
    adopt_rest: bool = False,
    config: Path | None = None,
) -> None:
    """What promoting `model` would change, printed; read through sessions that refuse to
    flush. With `reassess`, refused as the run would be (`_refuse_rules_only`). Disposes of
    `db_engine`. `config`: the command's --config, which the commands it names carry."""
    from serving import promote_plan
    from serving.cli import command_key
    from serving.db.session import make_read_session_factory

    sessions = make_read_session_factory(db_engine)
    try:
        command_key(settings, db_engine, may_create=False)  # the run refuses a missing key
        _promote_actor(sessions, as_user, reassess=reassess, config=config)
        found = promote_plan.plan(sessions, model_dir=model, serving_model_dir=settings.model_dir,
                                  adopt_rest=adopt_rest, config=config)  # fmt: skip
        if reassess:
            _refuse_rules_only(
                sessions, settings, model, allow_rules_only=allow_rules_only, found=found
            )
    finally:
        db_engine.dispose()
    for line in plan_lines(found, dry_run=True, config=config):
        typer.echo(line)


def _why(exc: BaseException) -> str:
    """An error in one line: a project error's code and words, else its kind and first line
    (a database error's statement and parameters left out)."""
    if isinstance(exc, ShanyraqError):
        return f"[{exc.code}] {exc.message}"
    first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0][:300] if first else 'no detail'}"


def _reassess(
    settings: ServingSettings,
    model_version: str,
    actor: tuple[int, str],
    *,
    progress: bool,
    allow_rules_only: bool,
    config: Path | None,
) -> None:
    """Recompute the assessments the promotion made stale. It is done by then, so an error
    here says so and names the command that recomputes what is left: families that could not
    be recomputed are named at the end (the others were), anything that stops the run says
    it stopped."""
    from sqlalchemy.exc import SQLAlchemyError

    from serving.app import build_services, close_services
    from serving.reassessment import reassess

    try:
        services = build_services(settings, config=config)
        try:
            made = reassess(
                services, model_version=model_version, actor=actor, progress=progress,
                allow_rules_only=allow_rules_only,
            )  # fmt: skip
        finally:
            close_services(services)
    except (ShanyraqError, SQLAlchemyError, OSError) as exc:  # a database or disk error too
        where = config_option(config)
        raise ReassessStoppedError(
            f"the promotion above is done and audited, but reassessing stopped: {_why(exc)}. "
            "Families recomputed before it keep their new assessment; run "
            f"`shanyraq assessments refresh --as {word(actor[1])}{where}` to recompute the rest "
            "(it recomputes every stale assessment, these included, and names any family it "
            "cannot recompute and goes on with the others)"
        ) from exc
    typer.echo(f"reassessed {len(made)} family(ies) on the promoted scores")
    if made.failed:
        where = config_option(config)
        failed = made.failed
        shown = "; ".join(f"{f.family_id} ([{f.error}] {f.detail})" for f in failed[:_FAILED_SHOWN])
        more = f"; and {len(failed) - _FAILED_SHOWN} more" if len(failed) > _FAILED_SHOWN else ""
        raise ReassessIncompleteError(
            f"the promotion above is done and audited, but {len(failed)} family(ies) could "
            f"not be recomputed and keep their stale assessment: {shown}{more}. The others "
            "were reassessed. Fix what each error says (e.g. correct the family's record), "
            f"then run `shanyraq assessments refresh --as {word(actor[1])}{where}`, which "
            "recomputes them (and any other stale assessment)"
        )
