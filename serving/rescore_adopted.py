"""Which re-scoring runs `rescore promote` adopted, as its audit entries (serving/promote.py) say.

A finished promotion's entry (ACTION) names the runs it adopted outcomes of (`run_ids`: at
least one photo took its score from them in that promotion; `updated_by_run`, not read here,
counts how many each gave) and the runs it checked (`runs_checked`: every run under the
model version then, each finished, with nothing of it left to adopt once it is done); entries
written before `runs_checked` named every run checked in `run_ids`. A promotion stopped
half-way (STOPPED) names the runs it had adopted outcomes of when it stopped.

`adopted_runs`: runs whose outcomes are, all or some, the service's scores, or that a finished
promotion checked: they are kept (neither discarded nor started over). `promoted_runs`: those
a run under other settings may score beside (serving/rescore_runs.py `check_unmixed`): not a
run a stopped promotion left with outcomes still to adopt (`runs_to_adopt`), which the next
promotion would adopt together with the other run's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from serving.db.models import AuditEntry, Photo, RescoredScore


def needs_update(model_version: str) -> Any:
    """Photos whose score is not the model version's (a promotion of it would replace it)."""
    return or_(Photo.model_version.is_(None), Photo.model_version != model_version)


def runs_to_adopt(session: Session, model_version: str) -> set[int]:
    """Runs holding a score under the model version for a photo not on it yet."""
    pending = (
        select(RescoredScore.run_id)
        .join(Photo, Photo.id == RescoredScore.photo_id)
        .where(RescoredScore.model_version == model_version, RescoredScore.score.is_not(None))
        .where(needs_update(model_version))
    )
    return set(session.execute(pending.distinct()).scalars())


def _named(session: Session, model_version: str) -> tuple[set[int], set[int]]:
    """(runs a finished promotion adopted or checked, runs a stopped one adopted outcomes of)."""
    from serving.promote import ACTION, STOPPED

    entries = session.execute(
        select(AuditEntry.action, AuditEntry.details).where(
            AuditEntry.action.in_((ACTION, STOPPED)), AuditEntry.target == f"model:{model_version}"
        )
    ).all()
    finished: set[int] = set()
    stopped: set[int] = set()
    for action, details in entries:
        keys = ("run_ids", "runs_checked") if action == ACTION else ("run_ids",)
        named = (int(run_id) for key in keys for run_id in (details or {}).get(key, []))
        (finished if action == ACTION else stopped).update(named)
    return finished, stopped


def adopted_runs(session: Session, model_version: str) -> set[int]:
    """Runs a promotion adopted outcomes of (also one that stopped half-way: photos carry their
    scores), or that a finished promotion checked."""
    finished, stopped = _named(session, model_version)
    return finished | stopped


def promoted_runs(session: Session, model_version: str) -> set[int]:
    """Adopted runs (`adopted_runs`) but those named only by stopped promotions that still hold
    outcomes to adopt: the promotion is unfinished for them."""
    finished, stopped = _named(session, model_version)
    half = stopped - finished
    if half:
        half -= runs_to_adopt(session, model_version)
    return finished | half
