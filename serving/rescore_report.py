"""The report of one `shanyraq rescore` call (`RescoreReport`): what its run holds, what the
call itself wrote, and the words the command prints (`report_lines`).

A run goes on over several calls: resumed after a stop, or reopened once finished for photos
uploaded since, restored to the store or tried again (--retry-failed). So the report keeps the
run's totals (`scored`, `failed`: all its sessions) apart from what this call wrote
(`this_session`, `scored_now`, `failed_now`), and says whether the call resumed the run,
reopened a finished one or found nothing left to score. Split from serving/rescore.py, which
scores; serving/rescore_cli.py prints the lines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from serving.db.models import Photo, RescoreRun
from serving.rescore_photos import photo_scope, scope_outcomes
from serving.rescore_provenance import RunProvenance

DAMAGED_IDS_SHOWN = 20  # the store-damaged photos a report names (it counts them all)


@dataclass(frozen=True)
class RescoreReport:
    run_id: int
    model_version: str
    scorer: str
    in_scope: int  # photos the run covers
    scored: int  # photos this run gave a new score (all its sessions; not other runs')
    failed: int  # photos this run recorded a reason for instead (all its sessions)
    this_session: int  # photos written by this call
    resumed: bool
    complete: bool
    seconds: float
    failures: list[tuple[int, str]] = field(default_factory=list)  # first few of this call
    provenance: RunProvenance | None = None  # what the run's scores depend on (its record)
    # Photos in scope whose original the store could not give (STORE_DAMAGE, by any run of
    # the version, each re-checked by this call): how many, how many of them this run recorded
    # (among `failed`), the first few ids; and how many restored this call scores again.
    store_damaged: int = 0
    store_damaged_ids: list[int] = field(default_factory=list)
    restored: int = 0
    store_damaged_by_run: int = 0  # of store_damaged, recorded by this run (among failed)
    by_other_runs: int = 0  # photos in scope with an outcome another run of the version recorded
    still_to_score: int = 0  # photos in scope with neither an outcome nor a score from upload
    scored_now: int = 0  # of this_session, given a new score by this call
    failed_now: int = 0  # of this_session, recorded with a reason instead by this call
    retried: int = 0  # outcomes without a score this call discarded to score again
    was_finished: bool = False  # the run had finished before this call
    reopened: bool = False  # ... and this call reopened it to score photos left

    @property
    def photos_per_s(self) -> float:
        return self.this_session / self.seconds if self.seconds > 0 else 0.0


@dataclass
class CallTally:
    """What one call wrote, batch by batch: photos walked, of them scored and recorded with a
    reason, and the first few of those reasons."""

    walked: int = 0
    scored: int = 0
    failed: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)

    def add(self, *, walked: int, scored: int, failed: int) -> None:
        self.walked += walked
        self.scored += scored
        self.failed += failed


def report_of(
    reads: sessionmaker[Session],
    run: RescoreRun,
    scorer_name: str,
    since: datetime | None,
    tally: CallTally,
    *,
    resumed: bool,
    was_finished: bool,
    started: float,
) -> RescoreReport:
    """The run as one read snapshot finds it (no write lock: serving.rescore_reads)."""
    with reads() as session:
        fresh = session.get_one(RescoreRun, run.id)
        scored, failed, complete = fresh.scored, fresh.failed, fresh.status == "done"
        provenance = RunProvenance.recorded(fresh)
        # Counted now, not at the start: photos uploaded meanwhile were scored too.
        in_scope = session.scalar(select(func.count(Photo.id)).where(*photo_scope(since))) or 0
        scope = scope_outcomes(session, fresh, since, ids_shown=DAMAGED_IDS_SHOWN)
    return RescoreReport(
        run_id=run.id, model_version=run.model_version, scorer=scorer_name, in_scope=in_scope,
        scored=scored, failed=failed, this_session=tally.walked, resumed=resumed,
        complete=complete, seconds=time.perf_counter() - started, failures=tally.failures[:20],
        provenance=provenance, store_damaged=scope.store_damaged,
        store_damaged_ids=scope.store_damaged_ids, store_damaged_by_run=scope.store_damaged_by_run,
        by_other_runs=scope.by_other_runs, still_to_score=scope.still_to_score,
        scored_now=tally.scored, failed_now=tally.failed, was_finished=was_finished,
        reopened=was_finished and (tally.walked > 0 or not complete),
    )  # fmt: skip


def report_lines(report: RescoreReport) -> list[str]:
    """The final report, in plain words: the run's totals, then what this call did."""
    state = "complete" if report.complete else "INCOMPLETE (run the command again to resume)"
    if report.complete and report.store_damaged:
        state = f"complete but for {report.store_damaged} photo(s) the store could not give"
    if not report.complete and report.still_to_score:
        state += f": {report.still_to_score} photo(s) in scope still to score"
    lines = [
        f"re-scoring run {report.run_id} under {report.model_version}: {state}",
        f"  photos in scope: {report.in_scope}; scored: {report.scored}; "
        f"without a score (reason recorded): {report.failed} (by this run, all its sessions)",
        *_scope_lines(report),
        f"  this session: {report.this_session} photo(s), {report.scored_now} scored and "
        f"{report.failed_now} without a score, in {report.seconds:.1f} s "
        f"({report.photos_per_s:.1f} photos/s) on the {report.scorer} path{_how(report)}",
    ]
    if report.provenance is not None:
        lines.append(
            f"  run recorded: {report.provenance.scorer} path, engine settings "
            f"{report.provenance.engine_config}, code {report.provenance.code_version}"
        )
    lines += [f"  photo {photo_id}: {why}" for photo_id, why in report.failures[:10]]
    return lines


def _how(report: RescoreReport) -> str:
    """How this call found the run, and what it took up again."""
    if report.was_finished and not report.reopened:
        how = "; the run had finished in an earlier session: nothing was left to score"
    elif report.was_finished:
        how = "; the run had finished in an earlier session and was reopened for photos left"
    else:
        how = ", resumed from an earlier session" if report.resumed else ""
    if report.restored:
        how += f", {report.restored} restored photo(s) scored again"
    if report.retried:
        how += f", {report.retried} photo(s) recorded without a score tried again"
    return how


def _scope_lines(report: RescoreReport) -> list[str]:
    """What the scope holds beside this run's own outcomes: other runs' outcomes, and the store
    damage whichever run recorded it, told apart from what this run found."""
    version, lines = report.model_version, []
    if report.by_other_runs:
        lines.append(f"  with an outcome from another run under {version}: {report.by_other_runs}")
    if report.store_damaged:
        earlier = report.store_damaged - report.store_damaged_by_run
        lines.append(
            f"  store damage in scope: {report.store_damaged} photo(s) the store could not give; "
            f"{report.store_damaged_by_run} found by this run, {earlier} recorded by another "
            f"run under {version}" + (" and checked again by this one" if earlier else "")
        )
    return lines
