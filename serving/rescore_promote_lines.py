"""What `shanyraq rescore promote` prints: the plan of a promotion (what it would change, or
changed), and what it changed, in plain words. Split from serving/rescore_promote_cli.py,
which prints them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shanyraq.shell_words import config_option

if TYPE_CHECKING:
    from serving.promote import PromoteReport
    from serving.promote_plan import PromotionPlan


def plan_lines(plan: PromotionPlan, *, dry_run: bool, config: Path | None = None) -> list[str]:
    """What a promotion changes, in plain words; the commands it tells carry `config`, the
    --config the promotion was given (None: none)."""
    from serving.promote import STOPPED
    from serving.rescore_words import adopt_rest_stops
    from serving.score_shift import shift_lines

    head = "would promote" if dry_run else "promoted"
    # The runs the plan checked, not those whose scores are adopted (promote_lines names those).
    checked = ", ".join(map(str, plan.run_ids))
    lines = [
        f"{head} model {plan.model_version} (re-scoring runs checked: {checked})",
        f"  photos to update: {plan.to_update}; already on this model: {plan.already_on_model}; "
        f"keeping their old score (no score under this model): {len(plan.kept_old)}",
    ]
    lines += [f"    photo {photo_id}: {why}" for photo_id, why in list(plan.kept_old.items())[:10]]
    if len(plan.kept_old) > 10:
        lines.append(f"    ... and {len(plan.kept_old) - 10} more")
    lines += _kept_old_ways(plan.kept_old, config)
    lines.append("score shift over the photos to update, current -> new:")
    lines += shift_lines(plan.shift)
    lines.append(
        "families whose latest assessment goes stale (or is, on scores of this model adopted "
        f"before): {len(plan.stale_families)} "
        f"({plan.stale_with_decision} with a commission decision on it)"
        + ("; --reassess recomputes them" if plan.stale_families else "")
    )
    lines += [f"  {family_id}" for family_id in plan.stale_families[:20]]
    if len(plan.stale_families) > 20:
        lines.append(f"  ... and {len(plan.stale_families) - 20} more")
    if dry_run and plan.stops_for:  # --adopt-rest, with photos uploaded since the run
        day, version = plan.stops_from, plan.model_version
        lines.append(
            adopt_rest_stops(
                plan.stops_for, day=day, model_version=version, stopped=STOPPED, config=config
            )
        )
    if dry_run:
        lines.append("dry run: nothing was written")
    return lines


def _kept_old_ways(kept_old: dict[int, str], config: Path | None) -> list[str]:
    """How the photos keeping their old score get this model's: neither a promotion nor a plain
    `rescore` tries them again, unless the store's damage is repaired (the commands it tells
    with the --config `config` given)."""
    from serving.rescore_photos import STORE_DAMAGE

    if not kept_old:
        return []
    damaged = sum(why.startswith(STORE_DAMAGE) for why in kept_old.values())
    given = config_option(config)
    return [
        f"    they stay on the score they have until re-scored: {damaged} the photo store could "
        "not give (restore the originals from a backup, then "
        f"`shanyraq rescore --model DIR{given}` scores them), {len(kept_old) - damaged} for "
        f"another reason (`shanyraq rescore --model DIR --retry-failed{given}` tries them "
        "again: an error of the moment or a photo over the stored-photo limit raised since "
        "scores, an undecodable photo fails again); then promote again"
    ]


def promote_lines(report: PromoteReport, *, config: Path | None = None) -> list[str]:
    """What a promotion changed: the plan's lines, then the photos updated and the runs they
    took their scores from, each with how many it gave (the plan names every run it checked),
    as the audit entry records; `config`: as `plan_lines` takes it."""
    lines = plan_lines(report.plan, dry_run=False, config=config)
    runs = ", ".join(f"{run} ({n} photo(s))" for run, n in sorted(report.updated_by_run.items()))
    lines.append(
        f"updated now: {report.updated} photo(s)"
        + (f" with the scores of re-scoring runs {runs}" if runs else "")
        + f"; scores sha256 {report.scores_sha256[:16]}; "
        + ("audited" if report.audited else "already promoted and audited: nothing changed")
    )
    return lines
