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
The checks, and the plan of what a promotion changes: serving/promote_plan.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from serving import audit
from serving.db.models import AuditEntry, AuditHead, Family, Photo, RescoredScore
from serving.db.session import session_scope
from serving.promote_plan import PromotionPlan, on_model, pages, plan
from serving.rescore_adopted import needs_update as _needs_update
from serving.rescore_coverage import check_coverage
from serving.rescore_reopened import finish_covered

logger = logging.getLogger(__name__)

ACTION = "scores_promoted"
STOPPED = "scores_promotion_stopped"  # a promotion that adopted some photos, then stopped


@dataclass(frozen=True)
class PromoteReport:
    plan: PromotionPlan
    updated: int  # photos updated by this call
    adopted_runs: list[int]  # the runs whose outcomes those photos took (plan.run_ids: checked)
    scores_sha256: str
    audited: bool  # False: an identical promotion was audited before and nothing changed
    updated_by_run: dict[int, int] = field(default_factory=dict)  # of `updated`, each run's


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
    config: Path | None = None,
) -> PromoteReport:  # fmt: skip
    """Adopt M's scores (refusing with the reason when it may not), then audit it once;
    `adopt_rest`: the rest a stopped promotion left, then stopped for photos with no score;
    `config`: the command's --config, which the commands its refusals name carry."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    found = plan(sessions, model_dir=model_dir, serving_model_dir=serving_model_dir,
                 adopt_rest=adopt_rest, config=config)  # fmt: skip
    version, updated, by_run = found.model_version, 0, Counter[int]()
    try:
        for page in pages(sessions, version, batch_size):
            # Each run's photos of the page apply apart: what a run gave is what its update
            # changed, not a photo another process put on M meanwhile (skipped, counting 0).
            # `updated` grows with each: one stopping on a later run audits the earlier ones.
            for run_id, rows in _by_run(page):
                given = _apply(sessions, rows, version)
                by_run[run_id] += given
                updated += given
            if on_batch is not None:
                on_batch(updated)
        adopted = _given(by_run)
        with session_scope(sessions) as session:  # on SQLite, under the write lock from here
            digest, target = scores_sha256(session, version), f"model:{version}"
            on_m = on_model(session, version, RescoredScore.score.is_not(None))
            _hold_audit_head(session)  # from here to the commit, no upload is filed
            # Uploads while this ran, or left by `adopt_rest`: stopped, audited as such.
            check_coverage(session, version, model_dir, late=True, adopt_rest=adopt_rest,
                           config=config)  # fmt: skip
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
                    details=_audit_details(
                        found, updated, adopted, model_version=version, photos_on_model=on_m,
                        already_on_model=found.already_on_model,
                        kept_old_score=len(found.kept_old), scores_sha256=digest,
                        stale_families=len(found.stale_families),
                    ),
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
    details = _audit_details(found, updated, adopted, outcome=how, error=error)
    try:
        with session_scope(sessions) as session:
            audit.append(session, key, actor=actor, action=STOPPED,
                         target=f"model:{found.model_version}", details=details)  # fmt: skip
    except Exception:
        logger.exception("could not audit the stopped promotion of %s", found.model_version)


def _audit_details(
    found: PromotionPlan, updated: int, adopted: dict[int, int], **more: Any
) -> dict[str, Any]:
    """The details of a promotion's audit entry, finished (ACTION) or stopped (STOPPED): the
    `updated` photos it adopted, from the runs `adopted` (with how many each gave: `run_ids`,
    `updated_by_run`), the runs it checked (`runs_checked`), and the entry's own `more`.
    serving/rescore_adopted.py reads both id lists of either entry alike."""
    return {
        "run_ids": sorted(adopted), "runs_checked": found.run_ids,
        "updated_by_run": {str(run): n for run, n in adopted.items()}, "updated": updated,
        **more,
    }  # fmt: skip
