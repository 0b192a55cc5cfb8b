"""The photos a re-scoring run walks: its scope, their originals from the store, and the store's
damage.

A run walks the photos in scope (`photo_scope`) that have no outcome under its model version
(`not_yet_scored`), a bounded page at a time (`pages`), reading each original from the store
(`read_original`). An original the store cannot give, missing, unreadable (a directory in its
place, permission denied, a disk error) or no longer matching its content hash, is damage to
the store, not to the photo (serving/rescore_store_damage.py): its reason (one of
STORE_DAMAGE) is recorded as the photo's outcome, and once the file reads intact again the next
call of any run whose scope holds it scores it (`retry_restored`, which reads the files holding
no transaction open). A photo over even the stored-photo limit is recorded in words for the
administrator (`stored_outcomes`).
Photos in scope the run has not covered reopen a finished run (`reopen_for_uncovered`); so do
the outcomes without a score in its scope, discarded to be scored again (`retry_failed`, on
request: an undecodable photo fails again, an error of the moment need not). The
listings read in deferred transactions, without SQLite's write lock (serving/rescore_reads.py).
Split from serving/rescore.py, which scores the pages and writes the outcomes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from serving.db.models import Photo, RescoredScore, RescoreRun
from serving.db.session import session_scope
from serving.rescore_provenance import RunProvenance
from serving.rescore_reads import read_sessions
from serving.rescore_runs import check_reopen, note_held
from serving.rescore_store_damage import (
    DAMAGED_FILE,
    MISSING_FILE,
    STORE_DAMAGE,
    UNREADABLE_FILE,
    PhotoStoreDamagedError,
    read_original,
    store_damaged,
)
from serving.rescore_words import oversize_reason
from serving.storage import PhotoStore
from shanyraq.errors import ImageTooLargeError
from vision.bulk import BytesScorer, PhotoBytes, Scored

# The store's damage (serving/rescore_store_damage.py), which callers import from here since
# before the split; `pages` and `retry_restored` read originals by this module's
# `read_original`, which tests patch here.
__all__ = [
    "DAMAGED_FILE",
    "MISSING_FILE",
    "STORE_DAMAGE",
    "UNREADABLE_FILE",
    "PhotoStoreDamagedError",
    "read_original",
    "store_damaged",
]

RESTORED_PAGE = 1000  # store-damage outcomes `retry_restored` reads (and discards) a query


def stored_outcomes(
    scorer: BytesScorer,
    scored: list[Scored],
    *,
    ray_discard: str | None = None,
    config: Path | None = None,
    model: Path | None = None,
    options: str = "",
) -> list[Scored]:
    """`scored` as a re-scoring records it. A photo refused as too large (ImageTooLargeError)
    is over even the stored-photo limit the scorer reads under (`serving.storage.stored_limit`):
    vision's words for it advise an uploader to send a smaller photo, which for evidence already
    filed is wrong; the administrator's remedy is named instead, with `rescore`'s way to score
    it again (its commands with the --config `config` given, naming the run by its `model`
    folder and `options` where known), or for a Ray actor the pipeline's (`ray_discard`: the
    command that discards its run; serving/rescore_words.py `oversize_reason`)."""
    limit = getattr(scorer, "max_pixels", None)  # what CpuBytesScorer, TensorBytesScorer read
    why = oversize_reason(
        limit, ray_discard=ray_discard, config=config, model=model, options=options
    )
    return [replace(s, error=why) if s.code == ImageTooLargeError.code else s for s in scored]


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


def photo_scope(since: datetime | None) -> list[Any]:
    return [Photo.created_at >= since] if since is not None else []


def not_yet_scored(model_version: str) -> Any:
    """Photos with no outcome under this model version (from this run or an earlier one)."""
    done = select(RescoredScore.id).where(
        RescoredScore.photo_id == Photo.id, RescoredScore.model_version == model_version
    )
    return ~done.exists()


@dataclass(frozen=True)
class Page:
    items: list[PhotoBytes]
    missing: dict[int, str]  # photo id -> reason, for photos whose bytes cannot be read
    last_id: int


def pages(
    reads: sessionmaker[Session],
    store: PhotoStore,
    *,
    after_id: int,
    since: datetime | None,
    model_version: str,
    batch_size: int,
) -> Iterator[Page]:
    """The photos in scope after `after_id`, a bounded batch at a time, with their bytes; each
    batch listed in a session of `reads` (`read_sessions`: on SQLite, without the write lock)."""
    cursor = after_id
    while True:
        with reads() as session:
            rows = session.execute(
                select(Photo.id, Photo.sha256, Photo.quality)
                .where(Photo.id > cursor, *photo_scope(since), not_yet_scored(model_version))
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
        yield Page(items, missing, cursor)


def retry_restored(
    sessions: sessionmaker[Session],
    run: RescoreRun,
    store: PhotoStore,
    provenance: RunProvenance,
    since: datetime | None,
    reads: sessionmaker[Session] | None = None,
    retry_failed: bool = False,
) -> int:
    """Discard the store-damage outcomes in `run`'s scope under its version, whichever run
    recorded them, whose original reads intact again (restored from a backup, made readable),
    and reopen `run` before the first so that it scores them; how many. Each page of
    RESTORED_PAGE outcomes is listed in a session of `reads` (default: `read_sessions` of
    `sessions`, for this call; on SQLite without the write lock), its files read and hashed with
    no transaction open (the write lock held meanwhile made uploads wait, then fail), and the
    intact ones discarded in a short transaction of `sessions` re-checking them; a finished run
    reopens only under its provenance (`check_reopen`), checked after the discard, so that a
    refusal naming a new run names the day of the first photo to score again (the discard is
    rolled back with the refusal, which deletes and changes nothing). That refusal names the
    call as it was made: `retry_failed`, a call asked to score again the photos recorded
    without a score too (`rescore --retry-failed`, the pipeline's retry_failed=True)."""
    if reads is None:
        with read_sessions(sessions) as own:
            return retry_restored(sessions, run, store, provenance, since, own, retry_failed)
    damaged = (
        select(RescoredScore.id, RescoredScore.photo_id, Photo.sha256)
        .join(Photo, Photo.id == RescoredScore.photo_id)
        .where(RescoredScore.model_version == run.model_version, *photo_scope(since))
        .where(store_damaged())
        .order_by(RescoredScore.photo_id)  # one outcome a photo under the version
    )
    restored, after = 0, 0
    while True:
        with reads() as session:
            page = damaged.where(RescoredScore.photo_id > after).limit(RESTORED_PAGE)
            rows = session.execute(page).all()
        if not rows:
            return restored
        after = rows[-1][1]
        intact = {r: p for r, p, sha in rows if isinstance(read_original(store, sha), bytes)}
        if not intact:
            continue
        with session_scope(sessions) as session:  # short: the files were read before it
            restored += _discard_restored(
                session, run, intact, provenance, retry_failed=retry_failed
            )


def _discard_restored(
    session: Session,
    run: RescoreRun,
    intact: dict[int, int],
    provenance: RunProvenance,
    *,
    retry_failed: bool,
) -> int:
    """The outcomes `intact` (row id: photo id) still recorded as damage deleted, the failed
    count of each run that recorded them lowered, and `run` reopened before the first (a
    refusal names the call with its `retry_failed`, and counts the outcomes as they were before
    this delete, which it rolls back: `note_held`)."""
    fresh = session.get_one(RescoreRun, run.id)  # as the write lock finds it
    still = select(RescoredScore.id, RescoredScore.photo_id, RescoredScore.run_id).where(
        RescoredScore.id.in_(list(intact)), RescoredScore.model_version == run.model_version,
        store_damaged(),
    )  # fmt: skip
    gone = [(r, p, owner) for r, p, owner in session.execute(still) if intact[r] == p]
    if not gone:
        return 0
    note_held(session, run.model_version)  # a refusal counts what a discard deletes
    session.execute(delete(RescoredScore).where(RescoredScore.id.in_([r for r, *_ in gone])))
    lowered = Counter(owner for *_, owner in gone)
    first = min(p for _, p, _ in gone)
    _reopen_before(session, fresh, provenance, lowered, first=first, retry_failed=retry_failed)
    return len(gone)


def _reopen_before(
    session: Session,
    run: RescoreRun,
    provenance: RunProvenance,
    lowered: Mapping[int, int],
    *,
    first: int,
    retry_failed: bool,
) -> None:
    """After outcomes were discarded (`lowered`: how many, by the run that recorded them):
    lower each such run's failed count and reopen `run` before photo `first`. A finished run
    reopens only under its provenance (`check_reopen`), checked after the discard so that a
    refusal naming a new run names the day of the first photo to score again (its rollback
    restores the outcomes), and names the call with its `retry_failed`."""
    for owner, n in lowered.items():
        lower = update(RescoreRun).values(failed=RescoreRun.failed - n)
        session.execute(lower.where(RescoreRun.id == owner))
    if run.status == "done":
        check_reopen(session, run, provenance, retry_failed=retry_failed)
    run.last_photo_id = min(run.last_photo_id, first - 1)
    run.status, run.finished_at = "running", None


def retry_failed(
    session: Session, run: RescoreRun, since: datetime | None, provenance: RunProvenance
) -> int:
    """Discard the outcomes without a score in `run`'s scope under its version, whichever run
    recorded them, lower the failed count of each run that did, and reopen `run` before the
    first, so that it scores them again; how many. Not every failure is final: an error of the
    moment (out of memory, a device error) or a photo over the stored-photo limit raised since
    scores now; an undecodable photo, or an original still missing, is recorded again. In the
    caller's transaction. A finished run reopens only under its provenance (`check_reopen`),
    checked after the discard, so that a refusal naming a new run names the day of the first
    photo to score again (the discard is rolled back with the refusal)."""
    in_scope = [RescoredScore.model_version == run.model_version, RescoredScore.score.is_(None)]
    if since is not None:
        in_scope.append(RescoredScore.photo_id.in_(select(Photo.id).where(*photo_scope(since))))
    owners = session.execute(
        select(RescoredScore.run_id, func.count(), func.min(RescoredScore.photo_id))
        .where(*in_scope)
        .group_by(RescoredScore.run_id)
    ).all()
    if not owners:
        return 0
    gone = delete(RescoredScore).where(*in_scope)
    session.execute(gone.execution_options(synchronize_session=False))
    lowered = {owner: n for owner, n, _ in owners}
    first = min(first for *_, first in owners)
    _reopen_before(session, run, provenance, lowered, first=first, retry_failed=True)
    session.flush()
    return sum(n for _, n, _ in owners)


def _uncovered(model_version: str, since: datetime | None) -> list[Any]:
    """Photos in scope with neither an outcome under `model_version` nor a score by it from
    their upload: what `rescore promote` refuses (rescore_scope_partial) until scored."""
    return [
        *photo_scope(since),
        not_yet_scored(model_version),
        or_(Photo.model_version.is_(None), Photo.model_version != model_version),
    ]


def first_uncovered(session: Session, model_version: str, since: datetime | None) -> int | None:
    """The first photo in scope still to score (`_uncovered`)."""
    return session.scalar(select(func.min(Photo.id)).where(*_uncovered(model_version, since)))


@dataclass(frozen=True)
class ScopeOutcomes:
    """What a run's report counts over its whole scope, beside the run's own counts: outcomes
    under its version that other runs recorded, the store damage (by any run: every run whose
    scope holds it re-checks it) and how much of it this run recorded, photos still to score."""

    by_other_runs: int  # outcomes in scope that another run of the version recorded
    store_damaged: int  # store-damage outcomes in scope, whichever run recorded them
    store_damaged_by_run: int  # of those, recorded by this run (in any of its sessions)
    store_damaged_ids: list[int]  # the first few
    still_to_score: int  # photos in scope with no outcome nor a score from their upload


def scope_outcomes(
    session: Session, run: RescoreRun, since: datetime | None, *, ids_shown: int
) -> ScopeOutcomes:
    """Counted in SQL, the first `ids_shown` damaged ids read: a store that lost its disk
    damages them all."""
    own, damaged = RescoredScore.run_id == run.id, store_damaged()
    in_scope = (RescoredScore.photo_id == Photo.id, *photo_scope(since),
                RescoredScore.model_version == run.model_version)  # fmt: skip
    others, n_damaged, n_own = session.execute(
        select(
            func.count(case((~own, 1))),
            func.count(case((damaged, 1))),
            func.count(case((and_(damaged, own), 1))),
        ).where(*in_scope)
    ).one()
    first_damaged = session.scalars(
        select(RescoredScore.photo_id).where(*in_scope, damaged)
        .order_by(RescoredScore.photo_id).limit(ids_shown)
    )  # fmt: skip
    still = select(func.count(Photo.id)).where(*_uncovered(run.model_version, since))
    return ScopeOutcomes(
        by_other_runs=others, store_damaged=n_damaged, store_damaged_by_run=n_own,
        store_damaged_ids=list(first_damaged), still_to_score=session.scalar(still) or 0,
    )  # fmt: skip


def reopen_for_uncovered(
    session: Session,
    run: RescoreRun,
    since: datetime | None,
    provenance: RunProvenance,
    *,
    retry_failed: bool,
) -> None:
    """Walk again from the first uncovered photo when the run's cursor is past it.

    Photos uploaded under the old model after a run finished, or committed behind its cursor,
    would otherwise never be scored by it: a finished run answered "complete" and the refusal
    of `rescore promote` stayed for ever. A finished run reopens only under its provenance
    (`check_reopen`), whose refusal names the call as it was made: `retry_failed`, asked to
    score again the photos recorded without a score (`rescore --retry-failed`, the pipeline's
    retry_failed=True), carried to the new run it names too.
    """
    first = first_uncovered(session, run.model_version, since)
    if first is None or (first > run.last_photo_id and run.status != "done"):
        return
    if run.status == "done":
        check_reopen(session, run, provenance, retry_failed=retry_failed)
    run.last_photo_id = min(run.last_photo_id, first - 1)
    run.status, run.finished_at = "running", None
    session.flush()
