"""Re-scoring the stored photos under a new model: bounded batches, resumable, exactly once.

A run is keyed by (model version, --since). It walks the photos table in id order, a batch at a
time; each batch's scores and the run's cursor (the last photo id done) are written in ONE
transaction, so after a crash the run resumes after the last committed batch: nothing scored
twice into the record, nothing skipped. A unique (photo, model version) constraint guards the
same promise against a second process, and the cursor is advanced compare-and-set. New scores
go to their own table under the new model version; the scores the service holds are untouched.

A run also records what its scores depend on besides the model version (`RunProvenance`: the
scorer path, the engine settings that change scores, the code version, a digest of the model's
files, so a copy edited under the same version counts as another). A resume under other ones is
refused, so one run's scores never mix two scorers; `restart=True` starts the unfinished run
over instead (`on_restart` records what it discarded), and a finished run no promotion adopted
is discarded (serving/rescore_discard.py) for the next call to score anew. Promotion adopts
every outcome under a model version, from all its runs, so a run is also refused while another
run under the same version (another --since, or the Ray pipeline's) holds outcomes made under
another provenance and is not yet promoted.

An original the store cannot give, missing, unreadable or no longer matching its content
hash, is damage to the store, not to the photo: it is recorded with its reason
(`STORE_DAMAGE`); every run whose scope holds those photos, whichever run recorded them,
counts and names them, and once they are restored scores them (serving/rescore_photos.py).

A photo in scope with neither an outcome nor a score by the model from its upload (uploaded
under the old model while the run scored, or after it finished) is what promotion refuses; a
run does not finish while it sees one, and a finished run's next call scores them
(`reopen_for_uncovered`), so following promotion's refusal always ends it.

Any other photo recorded without a score (an error of the moment, out of memory or a device
error; a photo over the stored-photo limit raised since) keeps it, before a promotion and after
one alike, until a call with `retry_failed` (`shanyraq rescore --retry-failed`) discards those
outcomes in its scope and scores the photos again (`retry_failed`; an undecodable photo is
recorded again). The report (serving/rescore_report.py) tells the run's totals from this call's.

The tables are the service's (serving/db/models.py, migration 0002); `ensure_tables` still
creates them on a database that has not been migrated that far. `serving/promote.py` adopts a
finished run's scores into the service.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from serving.db.models import Base, Photo, RescoredScore, RescoreRun
from serving.db.session import session_scope
from serving.rescore_photos import (
    DAMAGED_FILE,
    MISSING_FILE,
    STORE_DAMAGE,
    UNREADABLE_FILE,
    Page,
    PhotoStoreDamagedError,
    first_uncovered,
    not_yet_scored,
    pages,
    photo_scope,
    read_original,
    reopen_for_uncovered,
    retry_failed,
    retry_restored,
    stored_outcomes,
    stored_verdict,
)
from serving.rescore_provenance import RunProvenance
from serving.rescore_reads import read_sessions, scores_for
from serving.rescore_report import DAMAGED_IDS_SHOWN, CallTally, RescoreReport
from serving.rescore_report import report_of as _report  # tests patch it here
from serving.rescore_runs import (
    OnRestart,
    RescoreBusyError,
    note_held,
    open_run,
    run_options,
    sessions_config,
    since_key_of,
    tell_config,
)
from serving.storage import PhotoStore
from vision.bulk import BytesScorer, Scored, prefetch

# Names other modules import from here (serving.rescore_ray, tests) since before the split.
__all__ = [
    "DAMAGED_FILE",
    "DAMAGED_IDS_SHOWN",
    "MISSING_FILE",
    "STORE_DAMAGE",
    "UNREADABLE_FILE",
    "PhotoStoreDamagedError",
    "RescoreReport",
    "RescoreRun",
    "RescoredScore",
    "ensure_tables",
    "photo_scope",
    "read_original",
    "rescore",
    "scores_for",
    "stored_verdict",
]

logger = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_tables(engine: Engine) -> None:
    """Create the re-scoring tables where missing (databases migrated before revision 0002)."""
    tables = [RescoreRun.__table__, RescoredScore.__table__]
    Base.metadata.create_all(engine, tables=tables, checkfirst=True)  # type: ignore[arg-type]


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> set[int]:
    """Insert rows; a (photo, model version) already recorded is left as it was.

    Returns the photo ids really written.
    """
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:
        raise NotImplementedError(f"re-scoring supports SQLite and PostgreSQL, not {dialect}")
    statement = (
        insert(RescoredScore)
        .on_conflict_do_nothing(index_elements=["photo_id", "model_version"])  # type: ignore[attr-defined]
        .returning(RescoredScore.photo_id)
    )
    # Core execution with RETURNING: the rows really written, on SQLite and PostgreSQL alike.
    return {row[0] for row in session.connection().execute(statement, rows)}


def _commit_batch(
    sessions: sessionmaker[Session], run: RescoreRun, page: Page, scored: list[Scored]
) -> tuple[int, int]:
    """Scores and the advanced cursor, in one transaction; (scored, failed) written."""
    outcomes = [(s.key, s.score.to_dict() if s.score else None, s.error or None) for s in scored]
    outcomes += [(photo_id, None, why) for photo_id, why in page.missing.items()]
    rows = [
        {
            "photo_id": k,
            "model_version": run.model_version,
            "run_id": run.id,
            "score": sc,
            "error": e,
        }
        for k, sc, e in outcomes
    ]
    with session_scope(sessions) as session:
        written = _insert_ignoring_duplicates(session, rows)
        n_ok = sum(1 for k, sc, _ in outcomes if sc is not None and k in written)
        advanced = session.execute(
            update(RescoreRun)
            .where(RescoreRun.id == run.id, RescoreRun.last_photo_id == run.last_photo_id)
            .values(
                last_photo_id=page.last_id,
                scored=RescoreRun.scored + n_ok,
                failed=RescoreRun.failed + (len(written) - n_ok),
                updated_at=_utcnow(),
            )
        )
        if advanced.rowcount != 1:  # type: ignore[attr-defined]
            raise RescoreBusyError(
                f"re-scoring run {run.id} under {run.model_version} was advanced by another "
                "process, so this one stopped (its last batch was not recorded); run one "
                "re-scoring per model version at a time: the other one goes on"
            )
        if len(written) != len(rows):  # only when another process scored them meanwhile
            logger.warning("%d score(s) were already recorded and kept", len(rows) - len(written))
    run.last_photo_id = page.last_id
    return n_ok, len(written) - n_ok


def rescore(
    db_engine: Engine,
    store: PhotoStore,
    scorer: BytesScorer,
    *,
    since: datetime | None = None,
    batch_size: int = 256,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
    provenance: RunProvenance | None = None,
    model_dir: Path | None = None,
    restart: bool = False,
    on_restart: OnRestart | None = None,
    audit_anchor_file: Path | None = None,
    retry_failed: bool = False,
    config: Path | None = None,
) -> RescoreReport:
    """Score every photo in scope under `scorer`'s model version; resumes an unfinished run.

    `provenance` (default: `RunProvenance.of(scorer, model_dir=model_dir)`, `model_dir` the
    folder `scorer` was opened from, whose files it digests, and which the reason recorded for
    a photo over the stored-photo limit names in its retry and discard) must match an
    unfinished run's, else RescoreResumeError, and every other unpromoted run's under the
    version that holds outcomes, else RescoreMixError; `restart` discards that run's outcomes
    and starts it over, calling `on_restart` in the discarding transaction before anything is
    scored (its audit appends anchored in `audit_anchor_file`, as every command's are:
    serving.audit_anchor).
    `retry_failed` scores again the photos in scope recorded without a score (`retry_failed`
    of serving.rescore_photos), reopening a finished run, promoted or not, for them.
    `config`: the --config the command was given (None: none), which the commands its
    refusals tell carry (serving/rescore_runs.py `tell_config`).
    """
    from serving.audit_anchor import anchor_sessions
    from serving.db.session import make_session_factory

    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    ensure_tables(db_engine)
    sessions = make_session_factory(db_engine)
    if audit_anchor_file is not None:  # which has the sessions tell `config` too
        anchor_sessions(sessions, audit_anchor_file, config)
    else:
        tell_config(sessions, config)
    started = time.perf_counter()
    provenance = provenance or RunProvenance.of(scorer, model_dir=model_dir)
    # The listings read on one read engine for the run (no write lock: serving.rescore_reads).
    with read_sessions(sessions) as reads:
        opened = _open(
            sessions, reads, store, scorer, since=since, provenance=provenance, restart=restart,
            on_restart=on_restart, retry=retry_failed,
        )  # fmt: skip
        run, tally = opened.run, CallTally()
        if run.status != "done":
            run = _score_rest(
                sessions, reads, store, scorer, opened, tally, since=since,
                batch_size=batch_size, progress=progress, on_batch=on_batch, model_dir=model_dir,
            )  # fmt: skip
        report = _report(
            reads, run, scorer.name, since, tally, resumed=opened.resumed,
            was_finished=opened.was_finished, started=started,
        )  # fmt: skip
    return replace(report, restored=opened.restored, retried=opened.retried)


@dataclass(frozen=True)
class _Opened:
    run: RescoreRun
    resumed: bool
    restored: int  # photos restored to the store whose damage outcomes this call discarded
    in_scope: int
    remaining: int  # photos after the run's cursor with no outcome yet
    was_finished: bool  # the run had finished before this call
    retried: int  # outcomes without a score this call discarded to score again


def _open(
    sessions: sessionmaker[Session],
    reads: sessionmaker[Session],
    store: PhotoStore,
    scorer: BytesScorer,
    *,
    since: datetime | None,
    provenance: RunProvenance,
    restart: bool,
    on_restart: OnRestart | None,
    retry: bool,
) -> _Opened:
    """The run of (model version, `since`) made, checked or started over, its scope's restored
    damage discarded (`retry_restored`), with `retry` its other outcomes without a score too
    (`retry_failed`), and the run reopened for photos still to score. A refusal to reopen a
    finished run rolls that discard back, counts the outcomes a discard deletes as they were
    before it (`note_held`) and names the call with --retry-failed where it was given."""
    key = since_key_of(since)
    with session_scope(sessions) as session:
        before = session.scalar(
            select(RescoreRun.status).where(
                RescoreRun.model_version == scorer.model_version, RescoreRun.since_key == key
            )
        )
        run, resumed = open_run(
            session, scorer.model_version, key, provenance, restart=restart,
            on_restart=on_restart,
        )  # fmt: skip
    restored = retry_restored(sessions, run, store, provenance, since, reads, retry)
    with session_scope(sessions) as session:
        run = session.get_one(RescoreRun, run.id)  # as the write lock finds it
        retried = 0
        if retry:
            note_held(session, scorer.model_version)  # a refusal counts what a discard deletes
            retried = retry_failed(session, run, since, provenance)
        reopen_for_uncovered(session, run, since, provenance, retry_failed=retry)
        in_scope = session.scalar(select(func.count(Photo.id)).where(*photo_scope(since))) or 0
        remaining = session.scalar(
            select(func.count(Photo.id)).where(
                Photo.id > run.last_photo_id,
                *photo_scope(since),
                not_yet_scored(run.model_version),
            )
        )
    return _Opened(run, resumed, restored, in_scope, remaining or 0, before == "done", retried)


def _score_rest(
    sessions: sessionmaker[Session],
    reads: sessionmaker[Session],
    store: PhotoStore,
    scorer: BytesScorer,
    opened: _Opened,
    tally: CallTally,
    *,
    since: datetime | None,
    batch_size: int,
    progress: bool,
    on_batch: Callable[[int], None] | None,
    model_dir: Path | None,
) -> RescoreRun:
    """Walk the run until it is done, counting what this call wrote in `tally`; the run
    (`model_dir`: the folder `scorer` was opened from, None: not known)."""
    from tqdm import tqdm

    run = opened.run
    bar = tqdm(
        total=opened.in_scope, initial=opened.in_scope - opened.remaining, unit="photo",
        desc=f"re-scoring under {scorer.model_version}", disable=not progress,
    )  # fmt: skip
    with bar:
        while run.status != "done":
            before = tally.walked
            _walk(sessions, reads, store, scorer, run, since, batch_size, bar, on_batch, tally,
                  model_dir)  # fmt: skip
            run = _finish(sessions, run.id, since)
            if tally.walked == before:  # nothing left it could score: never loop
                break
    return run


def _walk(
    sessions: sessionmaker[Session],
    reads: sessionmaker[Session],
    store: PhotoStore,
    scorer: BytesScorer,
    run: RescoreRun,
    since: datetime | None,
    batch_size: int,
    bar: Any,
    on_batch: Callable[[int], None] | None,
    tally: CallTally,
    model_dir: Path | None,
) -> None:
    """One pass from the run's cursor to the last photo in scope, what it wrote counted in
    `tally` (the pages listed in `reads`' sessions, each batch written in a transaction of
    `sessions`). A photo over the stored-photo limit is recorded with the retry and discard
    of this run: its `model_dir` (where known), --since and the command's --config."""
    walked = pages(
        reads, store, after_id=run.last_photo_id, since=since,
        model_version=run.model_version, batch_size=batch_size,
    )  # fmt: skip
    # Decoding page k+1 (and reading its bytes) overlaps scoring page k.
    for page, prepared in prefetch(walked, lambda p: (p, scorer.prepare(p.items))):
        scored = stored_outcomes(
            scorer, scorer.infer(prepared), config=sessions_config(sessions), model=model_dir,
            options=run_options(run.since_key),
        )  # fmt: skip
        n_ok, n_failed = _commit_batch(sessions, run, page, scored)
        n_page = len(scored) + len(page.missing)
        tally.add(walked=n_page, scored=n_ok, failed=n_failed)
        if len(tally.failures) < 20:
            tally.failures += [(s.key, s.error) for s in scored if s.score is None][:20]
            tally.failures += list(page.missing.items())[:20]
        bar.total = max(bar.total, bar.n + n_page)  # photos uploaded meanwhile count too
        bar.update(n_page)
        if on_batch is not None:
            on_batch(tally.walked)


def _finish(sessions: sessionmaker[Session], run_id: int, since: datetime | None) -> RescoreRun:
    """The run marked done; or, when photos uploaded while it scored were missed (the next
    page was read ahead, or they were committed behind the cursor), its cursor moved back
    before the first of them, for another pass."""
    with session_scope(sessions) as session:
        run = session.get_one(RescoreRun, run_id)
        first = first_uncovered(session, run.model_version, since)
        if first is None:
            run.status, run.finished_at = "done", _utcnow()
        else:
            run.last_photo_id = min(run.last_photo_id, first - 1)
    return run
