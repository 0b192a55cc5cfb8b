"""What `rescore promote` needs scored before it adopts a model's re-scores, and the way it names.

Every photo has an outcome under the model version M or a score by M from its upload, or the
promotion is refused (`check_coverage`), naming how to score the rest: a run from the upload
day of the first of them (`shanyraq rescore --since DAY`), or, while a promotion stopped
half-way has outcomes of a run still to adopt (no run under other settings scores beside them:
serving/rescore_runs.py `check_unmixed`), that run as it was started (`_run_as_started`).

Where the settings that run recorded are gone (the code updated, say), neither works, nor a
discard (the run holds the service's scores): `rescore promote --adopt-rest` (`adopt_rest`)
then adopts the rest of what the stopped promotion left, that run's outcomes only, and stops
unfinished for the photos with no score, audited as stopped; with nothing of that run left to
adopt, a new run under the current settings may score them, and the next promotion adopts its
scores. The photos left keep their score under their own model meanwhile, as they did. Split
from serving/promote.py; the promotion's checks (serving/promote_plan.py `plan`) call
`check_coverage`, and serving/promote.py again under the write lock (`late`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serving.db.models import Photo, RescoredScore, RescoreRun
from serving.rescore_adopted import adopted_runs, promoted_runs
from serving.rescore_adopted import needs_update as _needs_update
from serving.rescore_photos import photo_scope
from serving.rescore_runs import RAY_KEY, is_ray, run_options
from serving.rescore_words import (
    ADOPT_REST,
    adopt_rest_way,
    half_promoted_scope,
    run_again,
)
from shanyraq.errors import ShanyraqError
from shanyraq.shell_words import config_option, word


class RescoreScopePartialError(ShanyraqError):
    code = "rescore_scope_partial"


def half_promoted(session: Session, model_version: str) -> set[int]:
    """Runs a promotion stopped half-way has outcomes of still to adopt."""
    return adopted_runs(session, model_version) - promoted_runs(session, model_version)


def check_coverage(
    session: Session,
    model_version: str,
    model_dir: Path,
    *,
    late: bool = False,
    adopt_rest: bool = False,
    config: Path | None = None,
) -> tuple[int, str]:
    """Every photo has an outcome under M or was scored by M at upload (`late`: at the end of
    a promotion). `adopt_rest`: not checked before a promotion while a stopped one has
    outcomes still to adopt, but measured: (how many photos it then stops for, the upload day
    of the first of them), which its plan says; at its end, the refusal says what it adopted
    and names a new run. (0, "") where every photo is covered. `config`: the promotion's
    --config (None where none was given), which the commands it names carry."""
    from serving.promote import STOPPED

    outcome = select(RescoredScore.id).where(
        RescoredScore.photo_id == Photo.id, RescoredScore.model_version == model_version
    )
    uncovered = (_needs_update(model_version), ~outcome.exists())
    count, first = session.execute(
        select(func.count(Photo.id), func.min(Photo.created_at)).where(*uncovered)
    ).one()
    if not count:
        return 0, ""
    day = first.date().isoformat() if isinstance(first, datetime) else str(first)[:10]
    if adopt_rest and not late and half_promoted(session, model_version):
        return count, day
    why = "the runs under it did not cover them (a --since run, or uploads after the run); "
    if late:
        why = (
            f"uploaded while this promotion ran, so it stops unfinished ({STOPPED}): the service "
            "scored them with another model (or none); restart it on its model_dir, then "
        )
        if adopt_rest:
            why = (
                f"this promotion adopted the rest of what a stopped one left ({ADOPT_REST}) and "
                f"stops unfinished for these ({STOPPED}); no run has outcomes left to adopt, so "
                "a run under the current settings may score them: "
            )
    way, rest = (
        (None, "")
        if late
        else _run_as_started(session, model_version, model_dir, uncovered, config=config)
    )
    new_run = f"shanyraq rescore --model {word(model_dir)} --since {day}{config_option(config)}"
    way = way or f"run `{new_run}`"
    raise RescoreScopePartialError(
        f"{count} photo(s), uploaded from {day} on, have no score under {model_version}: "
        f"{why}{way}, then promote again{rest}"
    )


def _run_as_started(
    session: Session, version: str, model_dir: Path, uncovered: Any, *, config: Path | None
) -> tuple[str | None, str]:
    """The run a promotion stopped half-way adopted in part, as it was started, where its scope
    holds the photos `uncovered` (a new --since run under other settings would be refused
    beside the outcomes it has still to adopt: serving/rescore_runs.py `check_unmixed`), and
    the way where its settings are gone (ADOPT_REST); (None, "") where there is none."""
    half = half_promoted(session, version)
    count = select(func.count(Photo.id)).where(*uncovered)
    runs = select(RescoreRun).where(RescoreRun.id.in_(half)).order_by(RescoreRun.id)
    for run in session.execute(runs).scalars():
        moment = run.since_key.removeprefix(RAY_KEY)
        since = datetime.fromisoformat(moment) if moment else None
        if session.scalar(count.where(*photo_scope(since))) == session.scalar(count):
            again = run_again(moment, ray=is_ray(run), options=run_options(run.since_key),
                              model=str(model_dir), config=config)  # fmt: skip
            way = adopt_rest_way(run.id, model=str(model_dir), config=config)
            return half_promoted_scope(run.id, again=again), way
    return None, ""
