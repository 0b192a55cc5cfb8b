"""Re-scoring the stored photos under a new model: bounded batches, resumable, exactly once.

A run is keyed by (model version, --since). It walks the photos table in id order, a batch at a
time; each batch's scores and the run's cursor (the last photo id done) are written in ONE
transaction, so after a crash the run resumes after the last committed batch: nothing scored
twice into the record, nothing skipped. A unique (photo, model version) constraint guards the
same promise against a second process, and the cursor is advanced compare-and-set. New scores
go to their own table under the new model version; the scores the service holds are untouched.

A run also records what its scores depend on besides the model (`RunProvenance`: the scorer
path, the engine settings that change scores, the code version). A resume under other ones is
refused, so one run's scores never mix two scorers; `restart=True` starts the unfinished run
over instead (`on_restart` records what it discarded). Promotion adopts every outcome under a
model version, from all its runs, so a run is also refused while another run under the same
version (another --since, or the Ray pipeline's) holds outcomes made under another provenance
and is not yet promoted.

An original the store cannot give, missing or no longer matching its content hash, is
damage to the store, not to the photo: it is recorded with its reason (`STORE_DAMAGE`), the
report counts and names those photos, and once they are restored from a backup the next call
of the same run discards those outcomes and scores them (`_retry_restored`).

A photo in scope with neither an outcome nor a score by the model from its upload (uploaded
under the old model while the run scored, or after it finished) is what promotion refuses; a
run does not finish while it sees one, and a finished run's next call scores them
(`_reopen_for_uncovered`), so following promotion's refusal always ends it.

The tables are the service's (serving/db/models.py, migration 0002); `ensure_tables` still
creates them on a database that has not been migrated that far. `serving/promote.py` adopts a
finished run's scores into the service.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from serving.db.models import Base, Photo, RescoredScore, RescoreRun
from serving.db.session import session_scope
from serving.errors import NotFoundError
from serving.rescore_runs import (
    OnRestart,
    RescoreBusyError,
    RunProvenance,
    check_resume,
    open_run,
)
from serving.storage import PhotoStore
from shanyraq.errors import ShanyraqError
from vision.bulk import BytesScorer, PhotoBytes, Scored, prefetch

logger = logging.getLogger(__name__)

MISSING_FILE = "the photo file is missing from the store"
DAMAGED_FILE = "the stored file no longer matches its content hash (damaged in the store)"
STORE_DAMAGE = (MISSING_FILE, DAMAGED_FILE)


class PhotoStoreDamagedError(ShanyraqError):
    """Originals a re-scoring needed are missing from the photo store or damaged in it."""

    code = "photo_store_damaged"

    @classmethod
    def of(cls, report: RescoreReport, store_dir: Path) -> PhotoStoreDamagedError:
        shown, n = report.store_damaged_ids, report.store_damaged
        ids = ", ".join(map(str, shown)) + (f" and {n - len(shown)} more" if n > len(shown) else "")
        return cls(
            f"the photo store is damaged: {n} original(s) are missing from {store_dir}/originals "
            f"or no longer match their content hash (photos {ids}). They have no score under "
            f"{report.model_version} and keep their current one. Restore those files from a "
            "backup of the photo store, then run this command again: it scores the restored "
            "photos"
        )


def _utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_tables(engine: Engine) -> None:
    """Create the re-scoring tables where missing (databases migrated before revision 0002)."""
    tables = [RescoreRun.__table__, RescoredScore.__table__]
    Base.metadata.create_all(engine, tables=tables, checkfirst=True)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RescoreReport:
    run_id: int
    model_version: str
    scorer: str
    in_scope: int  # photos the run covers
    scored: int  # photos with a new score (all sessions of the run)
    failed: int  # photos with a recorded reason instead (all sessions of the run)
    this_session: int  # photos written by this call
    resumed: bool
    complete: bool
    seconds: float
    failures: list[tuple[int, str]] = field(default_factory=list)  # first few of this call
    provenance: RunProvenance | None = None  # what the run's scores depend on (its record)
    # Photos of the run whose original the store could not give (STORE_DAMAGE), all sessions:
    # how many, and the first few ids; and how many restored ones this call scored again.
    store_damaged: int = 0
    store_damaged_ids: list[int] = field(default_factory=list)
    restored: int = 0

    @property
    def photos_per_s(self) -> float:
        return self.this_session / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class _Page:
    items: list[PhotoBytes]
    missing: dict[int, str]  # photo id -> reason, for photos whose bytes cannot be read
    last_id: int


def photo_scope(since: datetime | None) -> list[Any]:
    return [Photo.created_at >= since] if since is not None else []


def _not_yet_scored(model_version: str) -> Any:
    """Photos with no outcome under this model version (from this run or an earlier one)."""
    done = select(RescoredScore.id).where(
        RescoredScore.photo_id == Photo.id, RescoredScore.model_version == model_version
    )
    return ~done.exists()


def _pages(
    sessions: sessionmaker[Session],
    store: PhotoStore,
    *,
    after_id: int,
    since: datetime | None,
    model_version: str,
    batch_size: int,
) -> Iterator[_Page]:
    """The photos in scope after `after_id`, a bounded batch at a time, with their bytes."""
    cursor = after_id
    while True:
        with sessions() as session:
            rows = session.execute(
                select(Photo.id, Photo.sha256, Photo.quality)
                .where(Photo.id > cursor, *photo_scope(since), _not_yet_scored(model_version))
                .order_by(Photo.id)
                .limit(batch_size)
            ).all()
        if not rows:
            return
        items, missing = [], {}
        for photo_id, sha256, quality in rows:
            data = read_original(store, sha256)
            if isinstance(data, str):
                missing[photo_id] = data
                continue
            items.append(PhotoBytes(photo_id, sha256, data, stored_verdict(quality)))
        cursor = rows[-1][0]
        yield _Page(items, missing, cursor)


def read_original(store: PhotoStore, sha256: str) -> bytes | str:
    """The original's bytes, checked against its content hash; else why the store cannot
    give them (one of STORE_DAMAGE)."""
    try:
        data = store.read(sha256)
    except NotFoundError:
        return MISSING_FILE
    return data if hashlib.sha256(data).hexdigest() == sha256 else DAMAGED_FILE


def _retry_restored(
    session: Session, run: RescoreRun, store: PhotoStore, provenance: RunProvenance
) -> int:
    """Discard the run's STORE_DAMAGE outcomes whose original reads intact again (restored
    from a backup), reopening the run before the first of them, so this call scores them;
    how many. A finished run is reopened only under the provenance it recorded."""
    rows = session.execute(
        select(RescoredScore.id, RescoredScore.photo_id, Photo.sha256)
        .join(Photo, Photo.id == RescoredScore.photo_id)
        .where(RescoredScore.run_id == run.id, RescoredScore.error.in_(STORE_DAMAGE))
    ).all()
    restored = [(row_id, photo_id) for row_id, photo_id, sha256 in rows if store.verify(sha256)]
    if not restored:
        return 0
    if run.status == "done":
        check_resume(run, provenance)
    session.execute(delete(RescoredScore).where(RescoredScore.id.in_([r for r, _ in restored])))
    # Walking from before the first restored photo is cheap: photos with an outcome are skipped.
    run.last_photo_id = min(run.last_photo_id, min(p for _, p in restored) - 1)
    run.failed -= len(restored)
    run.status, run.finished_at = "running", None
    session.flush()
    return len(restored)


def _first_uncovered(session: Session, model_version: str, since: datetime | None) -> int | None:
    """The first photo in scope with neither an outcome under `model_version` nor a score by it
    from its upload: what `rescore promote` refuses (rescore_scope_partial) until scored."""
    return session.scalar(
        select(func.min(Photo.id)).where(
            *photo_scope(since),
            _not_yet_scored(model_version),
            or_(Photo.model_version.is_(None), Photo.model_version != model_version),
        )
    )


def _reopen_for_uncovered(
    session: Session, run: RescoreRun, since: datetime | None, provenance: RunProvenance
) -> None:
    """Walk again from the first uncovered photo when the run's cursor is past it.

    Photos uploaded under the old model after a run finished, or committed behind its cursor,
    would otherwise never be scored by it: a finished run answered "complete" and the refusal
    of `rescore promote` stayed for ever. A finished run reopens only under its provenance.
    """
    first = _first_uncovered(session, run.model_version, since)
    if first is None or (first > run.last_photo_id and run.status != "done"):
        return
    if run.status == "done":
        check_resume(run, provenance)
    run.last_photo_id = min(run.last_photo_id, first - 1)
    run.status, run.finished_at = "running", None
    session.flush()


def stored_verdict(quality: dict[str, Any] | None) -> Any:
    """The upload's quality verdict (a failed one makes the new score abstain too)."""
    if not quality:
        return None
    from vision.quality import QualityVerdict

    return QualityVerdict(
        status=quality["status"],
        reasons=tuple(quality.get("reasons", ())),
        retake_hint=quality.get("retake_hint", ""),
        measurements=dict(quality.get("measurements", {})),
    )


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
    sessions: sessionmaker[Session], run: RescoreRun, page: _Page, scored: list[Scored]
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
    restart: bool = False,
    on_restart: OnRestart | None = None,
) -> RescoreReport:
    """Score every photo in scope under `scorer`'s model version; resumes an unfinished run.

    `provenance` (default: `RunProvenance.of(scorer)`) must match an unfinished run's, else
    RescoreResumeError, and every other unpromoted run's under the version that holds
    outcomes, else RescoreMixError; `restart` discards that run's outcomes and starts it over,
    calling `on_restart` in the discarding transaction before anything is scored.
    """
    from tqdm import tqdm

    from serving.db.session import make_session_factory

    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    ensure_tables(db_engine)
    sessions = make_session_factory(db_engine)
    started = time.perf_counter()
    since_key = since.isoformat() if since is not None else ""
    provenance = provenance or RunProvenance.of(scorer)
    with session_scope(sessions) as session:
        run, resumed = open_run(
            session, scorer.model_version, since_key, provenance, restart=restart,
            on_restart=on_restart,
        )  # fmt: skip
        restored = _retry_restored(session, run, store, provenance)
        _reopen_for_uncovered(session, run, since, provenance)
        in_scope = session.scalar(select(func.count(Photo.id)).where(*photo_scope(since))) or 0
        remaining = session.scalar(
            select(func.count(Photo.id)).where(
                Photo.id > run.last_photo_id,
                *photo_scope(since),
                _not_yet_scored(run.model_version),
            )
        )
    done_now = 0
    failures: list[tuple[int, str]] = []
    if run.status != "done":
        bar = tqdm(
            total=in_scope, initial=in_scope - (remaining or 0), unit="photo",
            desc=f"re-scoring under {scorer.model_version}", disable=not progress,
        )  # fmt: skip
        with bar:
            while run.status != "done":
                walked = _walk(sessions, store, scorer, run, since, batch_size, bar, on_batch,
                               done_before=done_now, failures=failures)  # fmt: skip
                done_now += walked
                run = _finish(sessions, run.id, since)
                if not walked:  # nothing left it could score: never loop
                    break
    report = _report(sessions, run, scorer, since, done_now, resumed, started, failures[:20])
    return replace(report, restored=restored)


def _walk(
    sessions: sessionmaker[Session],
    store: PhotoStore,
    scorer: BytesScorer,
    run: RescoreRun,
    since: datetime | None,
    batch_size: int,
    bar: Any,
    on_batch: Callable[[int], None] | None,
    *,
    done_before: int,
    failures: list[tuple[int, str]],
) -> int:
    """One pass from the run's cursor to the last photo in scope; how many photos it wrote."""
    pages = _pages(
        sessions, store, after_id=run.last_photo_id, since=since,
        model_version=run.model_version, batch_size=batch_size,
    )  # fmt: skip
    done = 0
    # Decoding page k+1 (and reading its bytes) overlaps scoring page k.
    for page, prepared in prefetch(pages, lambda p: (p, scorer.prepare(p.items))):
        scored = scorer.infer(prepared)
        _commit_batch(sessions, run, page, scored)
        n_page = len(scored) + len(page.missing)
        done += n_page
        if len(failures) < 20:
            failures += [(s.key, s.error) for s in scored if s.score is None][:20]
            failures += list(page.missing.items())[:20]
        bar.total = max(bar.total, bar.n + n_page)  # photos uploaded meanwhile count too
        bar.update(n_page)
        if on_batch is not None:
            on_batch(done_before + done)
    return done


def _finish(sessions: sessionmaker[Session], run_id: int, since: datetime | None) -> RescoreRun:
    """The run marked done; or, when photos uploaded while it scored were missed (the next
    page was read ahead, or they were committed behind the cursor), its cursor moved back
    before the first of them, for another pass."""
    with session_scope(sessions) as session:
        run = session.get_one(RescoreRun, run_id)
        first = _first_uncovered(session, run.model_version, since)
        if first is None:
            run.status, run.finished_at = "done", _utcnow()
        else:
            run.last_photo_id = min(run.last_photo_id, first - 1)
    return run


def _report(
    sessions: sessionmaker[Session],
    run: RescoreRun,
    scorer: BytesScorer,
    since: datetime | None,
    done_now: int,
    resumed: bool,
    started: float,
    failures: list[tuple[int, str]],
) -> RescoreReport:
    with session_scope(sessions) as session:
        fresh = session.get_one(RescoreRun, run.id)
        scored, failed, complete = fresh.scored, fresh.failed, fresh.status == "done"
        provenance = RunProvenance.recorded(fresh)
        # Counted now, not at the start: photos uploaded meanwhile were scored too.
        in_scope = session.scalar(select(func.count(Photo.id)).where(*photo_scope(since))) or 0
        damaged = session.execute(
            select(RescoredScore.photo_id)
            .where(RescoredScore.run_id == run.id, RescoredScore.error.in_(STORE_DAMAGE))
            .order_by(RescoredScore.photo_id)
        ).scalars()
        damaged_ids = list(damaged)
    return RescoreReport(
        run_id=run.id, model_version=run.model_version, scorer=scorer.name, in_scope=in_scope,
        scored=scored, failed=failed, this_session=done_now, resumed=resumed, complete=complete,
        seconds=time.perf_counter() - started, failures=failures, provenance=provenance,
        store_damaged=len(damaged_ids), store_damaged_ids=damaged_ids[:20],
    )  # fmt: skip


def scores_for(session: Session, model_version: str) -> dict[int, RescoredScore]:
    """Every recorded outcome under `model_version`, by photo id."""
    rows = session.execute(
        select(RescoredScore).where(RescoredScore.model_version == model_version)
    ).scalars()
    return {row.photo_id: row for row in rows}
