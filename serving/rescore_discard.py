"""Discarding a re-scoring run that no promotion adopted, so the next one scores under the
current scorer, engine settings and code.

A run keeps one provenance (serving/rescore_runs.py), and a finished run is not started over
(`--restart` is for unfinished ones). So after the code, configs/engine.yaml or the scorer path
changed, a finished run that still has photos to score (restored to the store, uploaded since)
could go on only as it was started, and another run under the model version was refused while
it held its unpromoted outcomes: with the old code gone, nothing could be re-scored under the
model version again. `discard_run` deletes such a run and its outcomes in one transaction (the
caller audits what it deleted, in that transaction); the next `shanyraq rescore` makes a new
run. The Ray pipeline's runs (which have no --restart) are discarded alike, named by --ray. A
run whose outcomes a promotion adopted is kept: the service's scores come from them. Its
refusal names the run's own command (or the pipeline's call) as the way on, and, where a
promotion stopped half-way has some of them still to adopt, that promotion first (`_kept`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from serving.db.models import RescoredScore, RescoreRun
from serving.rescore_adopted import promoted_runs
from serving.rescore_provenance import RunProvenance
from serving.rescore_runs import (
    RAY_KEY,
    is_promoted,
    is_ray,
    outcome_counts,
    run_options,
)
from serving.rescore_words import run_again
from shanyraq.errors import ShanyraqError


class RescoreDiscardError(ShanyraqError):
    """The run to discard does not exist, or a promotion adopted its outcomes."""

    code = "rescore_discard_refused"


@dataclass(frozen=True)
class Discarded:
    """What `discard_run` deleted, for the audit entry written in the same transaction."""

    run_id: int
    model_version: str
    since_key: str
    status: str  # "done" or "running": how far it had got
    last_photo_id: int
    discarded_scored: int  # outcomes deleted: with a score
    discarded_failed: int  # and with a reason instead
    provenance: RunProvenance | None  # what the run had recorded (None: from before 0006)

    def details(self) -> dict[str, Any]:
        """As the audit entry's details (JSON)."""
        out = asdict(self)
        out["provenance"] = asdict(self.provenance) if self.provenance else None
        return out


def discard_run(
    session: Session,
    model_version: str,
    since_key: str,
    *,
    model: Path | None = None,
    config: Path | None = None,
) -> Discarded:
    """Delete the run of (model version, `since_key`: serving.rescore_runs.since_key_of, of
    `rescore` or of the Ray pipeline) and its outcomes, unless promoted. The refusal's run
    command names `model` (the folder given; None: DIR) and carries `config` (the --config
    given; None: none), so it works on the same database."""
    options = run_options(since_key)
    which = f"with{options}" if options else "without --since"
    run = session.execute(
        select(RescoreRun).where(
            RescoreRun.model_version == model_version, RescoreRun.since_key == since_key
        )
    ).scalar_one_or_none()
    if run is None:
        raise RescoreDiscardError(
            f"there is no re-scoring run under {model_version} {which}, so nothing was "
            "discarded; check --model and --since (the run's own, if it was given one)"
        )
    if is_promoted(session, run):
        raise RescoreDiscardError(_kept(session, run, model=model, config=config))
    scored, failed = outcome_counts(session, run)
    discarded = Discarded(
        run_id=run.id, model_version=model_version, since_key=since_key, status=run.status,
        last_photo_id=run.last_photo_id, discarded_scored=scored, discarded_failed=failed,
        provenance=RunProvenance.recorded(run),
    )  # fmt: skip
    session.execute(delete(RescoredScore).where(RescoredScore.run_id == run.id))
    session.delete(run)
    session.flush()
    return discarded


def _kept(session: Session, run: RescoreRun, *, model: Path | None, config: Path | None) -> str:
    """Why a promoted run is kept, and the ways on, each naming the run's own command (or the
    pipeline's call), not this one: as it was started, or a new run for the photos it has
    still to score (with none left, that none is, and a new run for photos uploaded later);
    where a promotion stopped half-way has outcomes of it still to adopt, that promotion
    first, since no new run is let beside them (serving/rescore_reopened.py)."""
    from serving.rescore_reopened import kept_way, new_run_way, nothing_to_score

    again = run_again(run.since_key.removeprefix(RAY_KEY), ray=is_ray(run),
                      options=run_options(run.since_key),
                      model=str(model) if model is not None else "DIR", config=config)  # fmt: skip
    as_started = f"{again} as the run was started"
    head = f"re-scoring run {run.id} under {run.model_version}"
    if run.id not in promoted_runs(session, run.model_version):  # a promotion stopped half-way
        why = f"{head} is not discarded: some of the service's scores come from it"
        return kept_way(session, run, why, as_started=as_started, again=again, config=config)
    # The run's own command, not "this command" (the discard, which never marks a run finished).
    way = new_run_way(session, run, again=again, config=config)
    kept = (
        f"{head} was adopted by `rescore promote`: the service's scores come from it, so it is kept"
    )
    if nothing_to_score(session, run):  # the way says so, and names one for later uploads
        return f"{kept}{way}"
    return f"{kept}; {as_started} to score the photos it has still to score{way}"
