"""The plan of a promotion of model M (serving/promote.py): the checks that M may be promoted,
each refusing with the reason and the way on (the re-scoring runs under M finished and scored
with the files of the folder promoted, the service on M, every photo covered), and what the
promotion would change, measured without writing anything. Split from serving/promote.py;
callers import `plan`, `PromotionPlan` and the refusals from here."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from serving.db.models import Decision, Photo, RescoredScore, RescoreRun
from serving.latest_assessments import latest_of
from serving.reassessment import stale_families
from serving.rescore_adopted import adopted_runs, runs_to_adopt
from serving.rescore_adopted import needs_update as _needs_update
from serving.rescore_coverage import check_coverage, half_promoted
from serving.rescore_provenance import artifact_digest
from serving.rescore_reopened import adopted_and_covered, promoted_by_version
from serving.rescore_runs import RAY_KEY, discard_way, is_ray, outcome_counts, run_options
from serving.rescore_service_model import checked_model
from serving.rescore_words import run_again
from serving.score_shift import ScoreShift, ShiftTally
from shanyraq.errors import ShanyraqError
from shanyraq.shell_words import config_option, word


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


def on_model(session: Session, model_version: str, *where: Any) -> int:
    """Photos on M with an outcome under M (`where`: of those outcomes)."""
    query = select(func.count(Photo.id)).join(RescoredScore, RescoredScore.photo_id == Photo.id)
    on_m = (RescoredScore.model_version == model_version, ~_needs_update(model_version))
    return session.scalar(query.where(*on_m, *where)) or 0


def _checked_runs(
    session: Session,
    model_version: str,
    model_dir: Path,
    *,
    adopt_rest: bool = False,
    config: Path | None = None,
) -> list[int]:
    rest = half_promoted(session, model_version) if adopt_rest else set()
    query = select(RescoreRun).where(RescoreRun.model_version == model_version)
    runs = list(session.execute(query.order_by(RescoreRun.id)).scalars())
    if not runs:
        raise RescoreRunNotFoundError(
            f"no re-scoring run under model {model_version}; run `shanyraq rescore --model "
            f"{word(model_dir)}{config_option(config)}` first, then promote"
        )
    promoted = promoted_by_version(session, runs)  # read once for every run it checks
    for run in runs:
        waiting = run.status != "done" and run.id not in rest
        if waiting and not adopted_and_covered(session, run, promoted):
            # Its own way on: `shanyraq rescore` as it was started, or the pipeline's call.
            again = run_again(run.since_key.removeprefix(RAY_KEY), ray=is_ray(run),
                              options=run_options(run.since_key), model=str(model_dir),
                              config=config)  # fmt: skip
            raise RescoreIncompleteError(
                f"re-scoring run {run.id} under {model_version} is unfinished (up to photo "
                f"{run.last_photo_id}; {run.scored} scored, {run.failed} without a score); "
                f"{again} again to finish it (or wait for the one running), then promote"
            )
    _check_model_files(session, runs, model_dir, config=config)
    return [run.id for run in runs]


def _check_model_files(
    session: Session, runs: list[RescoreRun], model_dir: Path, *, config: Path | None
) -> None:
    """Each run whose outcomes this promotion adopts was scored with the files of `model_dir`
    (the digest it recorded, serving/rescore_provenance.py): a copy edited under the same
    version scores otherwise. Not compared: a run from before migration 0009 (no digest), and
    one an earlier promotion adopted with nothing left to adopt (the folder may differ since).
    The discard it tells carries `config`, the --config the promotion was given."""
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
        discard = discard_way(run, outcomes, config)
        other_way = f"; or, to adopt scores of {model_dir}, {discard}, re-score"
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


def pages(sessions: sessionmaker[Session], model_version: str, size: int) -> Iterator[list[Any]]:
    """The photos still to update (`_pending`'s rows), `size` at a time, in photo order."""
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
    batch_size: int = 1000, adopt_rest: bool = False, config: Path | None = None,
) -> PromotionPlan:  # fmt: skip
    """Check that M may be promoted (raising why not) and measure what it would change;
    `adopt_rest`: the rest a stopped promotion left (serving/rescore_coverage.py); `config`:
    the command's --config (None where none was given), which the commands its refusals name
    carry, so they work on the same database."""
    model_version = checked_model(model_dir, serving_model_dir)
    with sessions() as session:
        run_ids = _checked_runs(session, model_version, model_dir, adopt_rest=adopt_rest,
                                config=config)  # fmt: skip
        stops_for, stops_from = check_coverage(
            session, model_version, model_dir, adopt_rest=adopt_rest, config=config
        )
        kept_rows = session.execute(
            select(RescoredScore.photo_id, RescoredScore.error)
            .join(Photo, Photo.id == RescoredScore.photo_id)
            .where(RescoredScore.model_version == model_version, RescoredScore.score.is_(None))
            .where(_needs_update(model_version))
            .order_by(RescoredScore.photo_id)
        )
        kept_old = {photo_id: error or "" for photo_id, error in kept_rows}
        already = on_model(session, model_version)
    tally, to_update, families = ShiftTally(), set(), set()
    for page in pages(sessions, model_version, batch_size):
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
