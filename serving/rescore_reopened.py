"""A promoted re-scoring run with photos still to score, once the provenance it recorded is gone.

A run that `rescore promote` adopted keeps its outcomes (the service's scores come from them),
so it is neither started over nor discarded, and it goes on only under the scorer path, engine
settings, code and model files it recorded (serving/rescore_runs.py). After those changed (an
update of the code, say), the photos it has still to score (uploaded since, restored to the
store) are scored by a new run with another --since, which scores only photos no run has
scored (`new_run_way` names it: the command, or the Ray pipeline's call for a run of it). A
run reopened for them and stopped part-way (killed, power lost) is unfinished, and promotion
refuses an unfinished run: its own command, under the new provenance, marks it finished once
nothing in its scope is left to score, scoring nothing (`close_covered`), so no edit of the
database is ever the only way out; a promotion marks it finished itself once it adopted all its
scores and nothing in its scope is left to score (`adopted_and_covered`, `finish_covered`). A
run a promotion stopped half-way adopted in part waits for that promotion to be finished first
(`kept_way`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serving.db.models import Photo, RescoredScore, RescoreRun
from serving.rescore_adopted import promoted_runs
from serving.rescore_photos import (  # the one "still to score", and the store's damage
    _uncovered,
    first_uncovered,
    photo_scope,
    store_damaged,
)
from serving.rescore_provenance import RunProvenance
from serving.rescore_runs import RAY_KEY, is_promoted, is_ray, since_key_of
from serving.rescore_words import half_promoted_way, new_run_command, promote_command, this_call

logger = logging.getLogger(__name__)


def _key_since(run: RescoreRun) -> str:
    """The moment of the run's key ("": every photo), as the Ray pipeline's call names it."""
    return run.since_key.removeprefix(RAY_KEY)


def _since(run: RescoreRun) -> datetime | None:
    since = _key_since(run)
    return datetime.fromisoformat(since) if since else None


def close_covered(session: Session, run: RescoreRun, provenance: RunProvenance) -> bool:
    """Mark `run` finished when it is unfinished, adopted by a promotion, recorded another
    provenance than `provenance` (so it cannot go on) and has no photo in its scope left to
    score (another run scored them, or it was stopped after its last batch); whether it did.
    Nothing is scored, and the run keeps the provenance it recorded."""
    if run.status == "done" or RunProvenance.recorded(run) is None:
        return False
    if not provenance.differences(run, hints=False) or not is_promoted(session, run):
        return False
    if first_uncovered(session, run.model_version, _since(run)) is not None:
        return False
    run.status, run.finished_at = "done", datetime.now(UTC)
    session.flush()
    logger.warning(
        "re-scoring run %d under %s was left unfinished under the provenance it recorded, and "
        "nothing in its scope is left to score: marked finished, scoring nothing",
        run.id, run.model_version,
    )  # fmt: skip
    return True


def adopted_and_covered(
    session: Session, run: RescoreRun, promoted: Mapping[str, set[int]] | None = None
) -> bool:
    """Whether unfinished `run` is finished in all but its status: a promotion adopted every
    score it holds (`promoted_runs`: nothing of it left to adopt) and no photo in its scope is
    left to score (a new run scored those uploaded since; it was stopped after its last
    batch). Run again, under any settings, it would score nothing a promotion needs and mark
    itself finished (`close_covered`), so promotion goes on without it: a run still running
    holds the re-scoring lock, which `rescore promote` takes. `promoted`: `promoted_runs` by
    model version, read once for many runs (`promoted_by_version`); default: read for this run."""
    if run.status == "done":
        return False
    version = run.model_version
    adopted = (promoted or {}).get(version)
    if adopted is None:
        adopted = promoted_runs(session, version)
    if run.id not in adopted:
        return False
    return first_uncovered(session, version, _since(run)) is None


def promoted_by_version(session: Session, runs: Iterable[RescoreRun]) -> dict[str, set[int]]:
    """`promoted_runs` of each model version the unfinished `runs` are under (the promotions'
    audit entries are read once a version, not once a run)."""
    versions = {run.model_version for run in runs if run.status != "done"}
    return {version: promoted_runs(session, version) for version in sorted(versions)}


def finish_covered(session: Session, run_ids: list[int]) -> list[int]:
    """Mark finished the runs of `run_ids` that are so in all but their status
    (`adopted_and_covered`), as the promotion checking them finds them; which it did."""
    query = select(RescoreRun).where(RescoreRun.id.in_(run_ids)).order_by(RescoreRun.id)
    runs = list(session.execute(query).scalars())
    promoted = promoted_by_version(session, runs)
    closed = [run for run in runs if adopted_and_covered(session, run, promoted)]
    for run in closed:
        run.status, run.finished_at = "done", datetime.now(UTC)
        logger.warning(
            "re-scoring run %d under %s was left unfinished, a promotion adopted its scores and "
            "nothing in its scope is left to score: marked finished by the promotion",
            run.id, run.model_version,
        )  # fmt: skip
    session.flush()
    return [run.id for run in closed]


def _first_to_score(session: Session, run: RescoreRun) -> datetime | None:
    """When the first photo in `run`'s scope a new run would score was uploaded: of those still
    to score (`_uncovered`: with those whose restored original a refusing call discarded the
    damage outcome of) and of those recorded as damage to the store, scored once restored;
    None when there is neither. Every damage outcome of the scope counts, not only the page of
    restored originals a refusal came on (serving/rescore_photos.py `retry_restored`): a photo
    restored on a later page may have been uploaded earlier (ids follow filing, not clocks)."""
    since = _since(run)
    first = session.scalar(
        select(func.min(Photo.created_at)).where(*_uncovered(run.model_version, since))
    )
    damaged = select(func.min(Photo.created_at)).join(
        RescoredScore, RescoredScore.photo_id == Photo.id
    )
    first_damaged = session.scalar(
        damaged.where(
            RescoredScore.model_version == run.model_version, store_damaged(), *photo_scope(since)
        )
    )
    return min((when for when in (first, first_damaged) if when is not None), default=None)


def nothing_to_score(session: Session, run: RescoreRun) -> bool:
    """Whether no photo in `run`'s scope is left for a run to score: none still to score, none
    recorded as damage to the store (scored once restored)."""
    return _first_to_score(session, run) is None


def kept_way(
    session: Session,
    run: RescoreRun,
    why: str,
    *,
    as_started: str | None = None,
    again: str | None = None,
    retry_failed: bool = False,
    config: Path | None = None,
) -> str:
    """The refusal (`why`, then the ways on) of a run a promotion adopted, under another
    provenance than it recorded: it is kept, and goes on as it was started (`as_started`;
    default: the refused call again, `shanyraq rescore`'s command or the Ray pipeline's call,
    `this_call`: no command starts the pipeline, and `shanyraq rescore` is another run) or
    leaves its photos still to score to a new run (`new_run_way`, naming the run's own way on
    as `again`). A run a promotion stopped half-way adopted in part waits for the promotion to
    be finished first, since no run under other settings scores beside the outcomes it has
    still to adopt (serving/rescore_runs.py `check_unmixed`, whose refusal says the same:
    serving/rescore_words.py). The commands it tells carry `config`, the --config the refused
    command was given (None: none)."""
    if as_started is None:
        own = this_call(_key_since(run), ray=is_ray(run), retry_failed=retry_failed)
        as_started = f"{own} again as the run was started"
    if run.id in promoted_runs(session, run.model_version):
        kept = f"{why}. `rescore promote` adopted its scores, so it is kept: {as_started}"
        way = new_run_way(session, run, again=again, retry_failed=retry_failed, config=config)
        return kept + way
    done = run.status == "done"
    half = half_promoted_way(
        done=done, as_started=as_started, model_version=run.model_version, config=config
    )
    # An unfinished run is finished as it was started first: then nothing is left to score.
    then = (
        new_run_way(session, run, again=again, retry_failed=retry_failed, then=True, config=config)
        if done
        else ""
    )
    return f"{why}. {half}{then}"


def new_run_way(
    session: Session,
    run: RescoreRun,
    *,
    again: str | None = None,
    retry_failed: bool = False,
    then: bool = False,
    config: Path | None = None,
) -> str:
    """How a promoted run's photos still to score are scored under the current provenance: by
    a new run (another --since, from the upload day of the first of them, `_first_to_score`;
    `retry_failed`: asked to score again those recorded without a score, as the call refused),
    which scores only the photos no run has scored (and those recorded without a score); an
    unfinished run is then marked finished by its own command (`close_covered`) before the
    promotion. With none of them (a refusal of `rescore discard`), it says so, and names a new
    run from today (UTC) for photos uploaded later under the old model. A Ray run's are named
    as the pipeline's call (serving/rescore_words.py), a `rescore` run's as the command; `again`:
    the run's own way on, which marks an unfinished run finished (default: the refused call
    itself, `this_call`; a refusal by another command names the run's, `run_again`); `then`:
    the way after another step the caller names (no "or"); `config`: the --config the refused
    command was given, which the commands it tells carry (None: none)."""
    ray = is_ray(run)
    first = _first_to_score(session, run)
    found = datetime.now(UTC).date() if first is None else date.fromisoformat(str(first)[:10])
    if since_key_of(datetime(found.year, found.month, found.day), ray=ray) == run.since_key:
        found -= timedelta(days=1)  # that day is this run's own --since: the day before
    them, close = "them", ""
    retried = ", and those recorded without a score" if retry_failed else ""
    if run.status != "done":  # reopened, then stopped: the refusal named no photos yet
        them = "the photos it has still to score"
        again = again or this_call(_key_since(run), ray=ray)
        close = (
            f"{again} again (with nothing left in its scope to score, it marks run {run.id} "
            "finished, scoring nothing), then "
        )
    lead = f"; {'then' if then else 'or'}, to score {them} under the current ones, start a new run"
    if first is None:
        lead = (
            "; no photo in its scope is left to score now. To score one uploaded later under "
            "the old model under the current ones, "
            + ("once the promotion is finished, " if then else "")
            + "start a new run"
        )
    command = new_run_command(found, ray=ray, retry_failed=retry_failed, config=config)
    return (
        f"{lead}, which scores only the photos no run has scored{retried}: {command}, then "
        f"{close}{promote_command(config)}"
    )
