"""Promotion: the service adopts the re-scores of model M (photos.score, photos.model_version).

Refused unless the re-scoring under M is finished and covers every photo with the files of the
folder promoted (the digest its runs recorded), M fits the taxonomy in configs/, and the
service itself scores new uploads with M, its model.json and graphs alike (else the record
would mix models from then on: serving/rescore_service_model.py). What M has a score for
replaces the photo's score, in bounded batches (a page's photos of one run), one transaction
each; a photo already on M is skipped, so a second promotion, or one re-run after a crash,
changes nothing twice. One audit entry records who promoted what, with a hash of the adopted
scores, the runs whose outcomes it adopted (`run_ids`: at least one photo took its score from
them in this promotion, not a photo another process put on M meanwhile; `updated_by_run`: how
many each gave) and those it checked (`runs_checked`: serving/rescore_adopted.py reads both id
lists); one stopped half-way (Ctrl-C, an error, photos uploaded meanwhile that a service not
restarted onto M scored) is audited as STOPPED, with what it adopted, and a re-run adopts the
rest (till then, no run under other settings is scored: serving/rescore_runs.py). A photo M
could not score (file missing, undecodable) keeps its score under the old model, and is
reported. `serving/reassessment.py` recomputes what it made stale.

`--since` runs: what is promoted is every outcome recorded under M, from whichever runs. A
partial-scope run alone is refused while any photo has neither an outcome under M nor a score
by M from its upload; the refusal names the date to re-score from, or the run a promotion
stopped half-way has outcomes of still to adopt, as it was started (serving/rescore_coverage.py).
Where the settings that run recorded are gone, `adopt_rest` (`rescore promote --adopt-rest`)
adopts the rest of what the stopped promotion left, that run unfinished or not, and stops
(STOPPED) for the photos with no score, which a run under the current settings then scores.
An unfinished run a promotion adopted whole, with nothing in its scope left to score, is not
refused: the promotion marks it finished (serving/rescore_reopened.py `adopted_and_covered`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from serving import audit
from serving.assessments import latest_of
from serving.db.models import (
    AuditEntry,
    AuditHead,
    Decision,
    Family,
    Photo,
    RescoredScore,
    RescoreRun,
)
from serving.db.session import session_scope
from serving.reassessment import stale_families
from serving.rescore_adopted import adopted_runs, runs_to_adopt
from serving.rescore_adopted import needs_update as _needs_update
from serving.rescore_coverage import (  # re-exported: callers and tests import it here
    RescoreScopePartialError as RescoreScopePartialError,
)
from serving.rescore_coverage import check_coverage, half_promoted
from serving.rescore_provenance import artifact_digest
from serving.rescore_reopened import adopted_and_covered, finish_covered, promoted_by_version
from serving.rescore_runs import RAY_KEY, discard_way, is_ray, outcome_counts, run_options
from serving.rescore_service_model import (  # re-exported: callers and tests import it here
    ServingModelMismatchError as ServingModelMismatchError,
)
from serving.rescore_service_model import checked_model
from serving.rescore_words import run_again
from serving.score_shift import ScoreShift, ShiftTally
from shanyraq.errors import ShanyraqError

logger = logging.getLogger(__name__)

ACTION = "scores_promoted"
STOPPED = "scores_promotion_stopped"  # a promotion that adopted some photos, then stopped


class RescoreRunNotFoundError(ShanyraqError):
    code = "rescore_run_not_found"


class RescoreIncompleteError(ShanyraqError):
    code = "rescore_incomplete"


class RescoreModelFilesError(ShanyraqError):
    """A run to adopt was scored with other model files than the folder promoted."""

    code = "rescore_model_files_mismatch"


@dataclass(frozen=True)
class PromotionPlan:
    """What promoting M changes; nothing is written to find it out."""

    model_version: str
    run_ids: list[int]
    to_update: int  # photos whose score would be replaced by M's
    already_on_model: int  # photos with an outcome under M that carry M's score already
    kept_old: dict[int, str]  # photo id -> why M has no score for it (it keeps its score)
    stale_families: list[str]  # latest assessment reads a score it would change or changed
    stale_with_decision: int  # of those, how many have a commission decision on it
    shift: ScoreShift
    # With adopt_rest: photos with no score under M it stops for, and the first one's upload day.
    stops_for: int = 0
    stops_from: str = ""


@dataclass(frozen=True)
class PromoteReport:
    plan: PromotionPlan
    updated: int  # photos updated by this call
    adopted_runs: list[int]  # the runs whose outcomes those photos took (plan.run_ids: checked)
    scores_sha256: str
    audited: bool  # False: an identical promotion was audited before and nothing changed
    updated_by_run: dict[int, int] = field(default_factory=dict)  # of `updated`, each run's


def _on_model(session: Session, model_version: str, *where: Any) -> int:
    """Photos on M with an outcome under M (`where`: of those outcomes)."""
    query = select(func.count(Photo.id)).join(RescoredScore, RescoredScore.photo_id == Photo.id)
    on_m = (RescoredScore.model_version == model_version, ~_needs_update(model_version))
    return session.scalar(query.where(*on_m, *where)) or 0


def _checked_runs(
    session: Session, model_version: str, model_dir: Path, *, adopt_rest: bool = False
) -> list[int]:
    rest = half_promoted(session, model_version) if adopt_rest else set()
    query = select(RescoreRun).where(RescoreRun.model_version == model_version)
    runs = list(session.execute(query.order_by(RescoreRun.id)).scalars())
    if not runs:
        raise RescoreRunNotFoundError(
            f"no re-scoring run under model {model_version}; run `shanyraq rescore --model "
            f"{model_dir}` first, then promote"
        )
    promoted = promoted_by_version(session, runs)  # read once for every run it checks
    for run in runs:
        waiting = run.status != "done" and run.id not in rest
        if waiting and not adopted_and_covered(session, run, promoted):
            # Its own way on: `shanyraq rescore` as it was started, or the pipeline's call.
            again = run_again(run.since_key.removeprefix(RAY_KEY), ray=is_ray(run),
                              options=run_options(run.since_key), model=str(model_dir))  # fmt: skip
            raise RescoreIncompleteError(
                f"re-scoring run {run.id} under {model_version} is unfinished (up to photo "
                f"{run.last_photo_id}; {run.scored} scored, {run.failed} without a score); "
                f"{again} again to finish it (or wait for the one running), then promote"
            )
    _check_model_files(session, runs, model_dir)
    return [run.id for run in runs]


def _check_model_files(session: Session, runs: list[RescoreRun], model_dir: Path) -> None:
    """Each run whose outcomes this promotion adopts was scored with the files of `model_dir`
    (the digest it recorded, serving/rescore_provenance.py): a copy edited under the same
    version scores otherwise. Not compared: a run from before migration 0009 (no digest), and
    one an earlier promotion adopted with nothing left to adopt (the folder may differ since)."""
    digest = artifact_digest(model_dir)
    differ = [run for run in runs if run.model_artifact not in (None, digest)]
    if not differ:
        return
    version = differ[0].model_version
    # Adopted: by any promotion, one stopped half-way too (its photos carry the run's scores,
    # so nothing the folder holds now changes them), or checked by a finished one.
    adopted, to_adopt = adopted_runs(session, version), runs_to_adopt(session, version)
    for run in differ:
        if run.id in adopted and run.id not in to_adopt:
            continue
        outcomes = sum(outcome_counts(session, run))
        other_way = f"; or, to adopt scores of {model_dir}, {discard_way(run, outcomes)}, re-score"
        raise RescoreModelFilesError(
            f"re-scoring run {run.id} under {version} was scored with model files "
            f"{run.model_artifact!r}, but {model_dir} holds {digest!r} (model.onnx, model.json "
            "or model_fp16.onnx edited or replaced under the same model version), so its scores "
            "are not this folder's: promote the model folder the run scored with"
            + ("" if run.id in adopted else f"{other_way} and promote again")
        )


def _pending(model_version: str, *, after_id: int, limit: int) -> Any:
    """(photo id, family id, current score, M's score, its run) of photos still to update."""
    return (
        select(Photo.id, Photo.family_id, Photo.score, RescoredScore.score, RescoredScore.run_id)
        .join(RescoredScore, RescoredScore.photo_id == Photo.id)
        .where(RescoredScore.model_version == model_version, RescoredScore.score.is_not(None))
        .where(_needs_update(model_version), Photo.id > after_id)
        .order_by(Photo.id)
        .limit(limit)
    )


def _pages(sessions: sessionmaker[Session], model_version: str, size: int) -> Iterator[list[Any]]:
    cursor = 0
    while True:
        with sessions() as session:
            rows = session.execute(_pending(model_version, after_id=cursor, limit=size))
            page = list(rows.all())
        if not page:
            return
        cursor = page[-1][0]
        yield page


def _stale_families(
    session: Session, model_version: str, family_ids: set[str], photo_ids: set[int]
) -> tuple[list[str], int]:
    """Families whose latest assessment used one of `photo_ids`, or is stale on M's scores
    adopted already; and how many were decided on."""
    adopted = set(stale_families(session, model_version))
    families = sorted(family_ids | adopted)
    stale: list[str] = []
    decided = 0
    for start in range(0, len(families), 500):
        for row in latest_of(session, families[start : start + 500]).values():
            if row.family_id in adopted or photo_ids.intersection(row.photo_ids):
                stale.append(row.family_id)
                on_it = select(func.count(Decision.id)).where(Decision.assessment_id == row.id)
                decided += bool(session.scalar(on_it))
    return stale, decided


def plan(
    sessions: sessionmaker[Session], *, model_dir: Path, serving_model_dir: Path | None,
    batch_size: int = 1000, adopt_rest: bool = False,
) -> PromotionPlan:  # fmt: skip
    """Check that M may be promoted (raising why not) and measure what it would change;
    `adopt_rest`: the rest a stopped promotion left (serving/rescore_coverage.py)."""
    model_version = checked_model(model_dir, serving_model_dir)
    with sessions() as session:
        run_ids = _checked_runs(session, model_version, model_dir, adopt_rest=adopt_rest)
        stops_for, stops_from = check_coverage(
            session, model_version, model_dir, adopt_rest=adopt_rest
        )
        kept_rows = session.execute(
            select(RescoredScore.photo_id, RescoredScore.error)
            .join(Photo, Photo.id == RescoredScore.photo_id)
            .where(RescoredScore.model_version == model_version, RescoredScore.score.is_(None))
            .where(_needs_update(model_version))
            .order_by(RescoredScore.photo_id)
        )
        kept_old = {photo_id: error or "" for photo_id, error in kept_rows}
        already = _on_model(session, model_version)
    tally, to_update, families = ShiftTally(), set(), set()
    for page in _pages(sessions, model_version, batch_size):
        for photo_id, family_id, old, new, _ in page:
            tally.add(old, new)
            to_update.add(photo_id)
            families.add(family_id)
    with sessions() as session:
        stale, decided = _stale_families(session, model_version, families, to_update)
    return PromotionPlan(
        model_version=model_version, run_ids=run_ids, to_update=len(to_update),
        already_on_model=already, kept_old=kept_old,
        stale_families=stale, stale_with_decision=decided, shift=tally.result(),
        stops_for=stops_for, stops_from=stops_from,
    )  # fmt: skip


def scores_sha256(session: Session, model_version: str, *, batch: int = 1000) -> str:
    """A digest of every outcome recorded under M, in photo order (reproducible from the table)."""
    digest = hashlib.sha256()
    rows = session.execute(
        select(RescoredScore.photo_id, RescoredScore.score, RescoredScore.error)
        .where(RescoredScore.model_version == model_version)
        .order_by(RescoredScore.photo_id)
        .execution_options(yield_per=batch)
    )
    for row in rows:
        digest.update(json.dumps(list(row), sort_keys=True, separators=(",", ":")).encode() + b"\n")
    return digest.hexdigest()


def _apply(sessions: sessionmaker[Session], page: list[Any], model_version: str) -> int:
    """One batch (a page's photos taking their scores from one run) in one transaction; a photo
    another process put on M meanwhile is skipped, and not counted.

    The batch's families are locked first, in id order, as uploads and decisions lock theirs
    (serving.assessments.lock_family): a decision running beside the promotion then sees the
    new scores, and refuses an assessment they make stale, instead of landing on it.
    """
    updated = 0
    with session_scope(sessions) as session:
        families = sorted({family_id for _, family_id, *_ in page})
        session.execute(
            select(Family.id).where(Family.id.in_(families)).order_by(Family.id).with_for_update()
        ).all()
        for photo_id, _, _, score, *_ in page:
            result = session.execute(
                update(Photo)
                .where(Photo.id == photo_id, _needs_update(model_version))
                .values(score=score, model_version=model_version)
                .execution_options(synchronize_session=False)
            )
            updated += int(result.rowcount)  # type: ignore[attr-defined]
    return updated


def promote(
    sessions: sessionmaker[Session], signing_key: bytes, *, model_dir: Path,
    serving_model_dir: Path | None, actor: str, batch_size: int = 500,
    on_batch: Callable[[int], None] | None = None, adopt_rest: bool = False,
) -> PromoteReport:  # fmt: skip
    """Adopt M's scores (refusing with the reason when it may not), then audit it once;
    `adopt_rest`: the rest a stopped promotion left, then stopped for photos with no score."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    found = plan(sessions, model_dir=model_dir, serving_model_dir=serving_model_dir,
                 adopt_rest=adopt_rest)  # fmt: skip
    version, updated, by_run = found.model_version, 0, Counter[int]()
    try:
        for page in _pages(sessions, version, batch_size):
            # Each run's photos of the page apply apart: what a run gave is what its update
            # changed, not a photo another process put on M meanwhile (skipped, counting 0).
            for run_id, rows in _by_run(page):
                by_run[run_id] += _apply(sessions, rows, version)
                updated = by_run.total()
            if on_batch is not None:
                on_batch(updated)
        adopted = _given(by_run)
        with session_scope(sessions) as session:  # on SQLite, under the write lock from here
            digest, target = scores_sha256(session, version), f"model:{version}"
            on_model = _on_model(session, version, RescoredScore.score.is_not(None))
            _hold_audit_head(session)  # from here to the commit, no upload is filed
            # Uploads while this ran, or left by `adopt_rest`: stopped, audited as such.
            check_coverage(session, version, model_dir, late=True, adopt_rest=adopt_rest)
            finish_covered(session, found.run_ids)  # each run it checked is finished after it
            ours = (AuditEntry.action.in_((ACTION, STOPPED)), AuditEntry.target == target)
            last = select(AuditEntry.details).where(*ours).order_by(AuditEntry.seq.desc())
            before = session.execute(last.limit(1)).scalar_one_or_none()
            # A re-run that changed nothing adds no entry, unless the earlier run died or
            # stopped before its entry was written (then this one writes it).
            audited = updated > 0 or (before or {}).get("scores_sha256") != digest
            if audited:
                audit.append(
                    session, signing_key, actor=actor, action=ACTION, target=target,
                    details={
                        "run_ids": sorted(adopted), "runs_checked": found.run_ids,
                        "updated_by_run": {str(run): n for run, n in adopted.items()},
                        "model_version": version, "updated": updated,
                        "photos_on_model": on_model, "already_on_model": found.already_on_model,
                        "kept_old_score": len(found.kept_old), "scores_sha256": digest,
                        "stale_families": len(found.stale_families),
                    },
                )  # fmt: skip
    except BaseException as exc:  # photos changed: the trail says so, if the database takes it
        if updated:
            _audit_stopped(sessions, signing_key, found, actor, exc, updated, _given(by_run))
        raise
    logger.info("promoted %s: %d photo(s) updated", version, updated)
    return PromoteReport(
        plan=found, updated=updated, adopted_runs=sorted(adopted), scores_sha256=digest,
        audited=audited, updated_by_run=adopted,
    )  # fmt: skip


def _by_run(page: list[Any]) -> list[tuple[int, list[Any]]]:
    """The page's rows by the run whose score each photo takes, in run order."""
    rows: dict[int, list[Any]] = {}
    for row in page:
        rows.setdefault(row[-1], []).append(row)
    return sorted(rows.items())


def _given(by_run: Counter[int]) -> dict[int, int]:
    """The runs that gave at least one photo its score, with how many, in run order."""
    return {run: n for run, n in sorted(by_run.items()) if n}


def _hold_audit_head(session: Session) -> None:
    """Lock the audit chain's head, as every upload does to audit itself (serving.audit), till
    the commit. On PostgreSQL each statement reads what is committed when it runs: an upload
    committing between the coverage check and the entry would be filed before the entry,
    without M's score, under a promotion that reported success. Held before the check, an
    upload either committed before it (the check sees it) or is filed after the entry; and a
    promotion beside this one reads this one's entry, not the entry before it."""
    session.execute(select(AuditHead.id).where(AuditHead.id == 1).with_for_update()).one()


def _audit_stopped(
    sessions: sessionmaker[Session], key: bytes, found: PromotionPlan, actor: str,
    exc: BaseException, updated: int, adopted: dict[int, int],
) -> None:  # fmt: skip
    """The entry of a promotion that stopped after adopting `updated` photos from the runs
    `adopted` (with how many each gave); logged instead when the database is what failed (its
    own error is raised)."""
    how = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
    error = getattr(exc, "code", None) or type(exc).__name__
    details = {"run_ids": sorted(adopted), "runs_checked": found.run_ids,
               "updated_by_run": {str(run): n for run, n in adopted.items()},
               "updated": updated, "outcome": how, "error": error}  # fmt: skip
    try:
        with session_scope(sessions) as session:
            audit.append(session, key, actor=actor, action=STOPPED,
                         target=f"model:{found.model_version}", details=details)  # fmt: skip
    except Exception:
        logger.exception("could not audit the stopped promotion of %s", found.model_version)
