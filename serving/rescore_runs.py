"""A re-scoring run's bookkeeping: what its scores depend on, and when a run may go on.

`RunProvenance` (serving/rescore_provenance.py) is what a run's scores depend on besides the
model version: the scorer path, the engine settings that change scores, the code version and
the model's files (a copy edited under the same version scores otherwise). `open_run`
finds or makes the run for (model version, --since); `check_resume` refuses to resume it under
another provenance and `check_unmixed` refuses any run while another run of the same model
version holds unpromoted outcomes made under another one (unless finished with no score to
adopt), since promotion adopts them all (a stopped one leaves some: rescore_adopted.py). A
restart (`_start_over`) discards an unfinished run's outcomes and says what it discarded
(`Restart`). A finished run, or one a promotion adopted, is not started over; one that no
promotion adopted can be discarded instead (serving/rescore_discard.py), which the refusals
name as the way to score again under the current provenance; one a promotion adopted is left
by a new run (serving/rescore_reopened.py). The refusals of `rescore` and of
the Ray pipeline (serving/rescore_ray.py, whose runs' keys begin with RAY_KEY and which has no
--restart) come from here alike, each naming the way its caller re-scores (the options of the
command, the arguments of the pipeline's call), in the words of serving/rescore_refusals.py.
Split from serving/rescore.py, which walks the photos and writes the scores.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from serving.audit_anchor import CONFIG_INFO_KEY
from serving.db.models import RescoredScore, RescoreRun
from serving.rescore_adopted import adopted_runs, promoted_runs, runs_to_adopt
from serving.rescore_provenance import RunProvenance
from shanyraq.errors import ShanyraqError
from shanyraq.shell_words import config_option, word

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import sessionmaker


logger = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


RAY_KEY = "ray:"  # how the Ray pipeline's runs' since_key begins (serving/rescore_ray.py)
# Session.info key: the --config the command was given; the audit appends' own (an `audit verify`
# they tell carries it too).
TOLD_CONFIG = CONFIG_INFO_KEY


def tell_config(sessions: sessionmaker[Session], config: Path | None) -> None:
    """Have every session of `sessions` carry `config`, the --config the re-scoring command
    was given, so that the commands its refusals tell carry it too (`told_config`), also from
    the sessions the walk opens deep down (serving/rescore_photos.py). None: none given."""
    if config is not None:  # beside what the sessions carry already (an audit anchor, say)
        sessions.configure(info={**(sessions.kw.get("info") or {}), TOLD_CONFIG: config})


def told_config(session: Session) -> Path | None:
    """The --config the command working in `session` was given (`tell_config`); None where
    none was (the Ray pipeline: where its caller gave `rescore_with_ray` none)."""
    config: Path | None = session.info.get(TOLD_CONFIG)
    return config


def sessions_config(sessions: sessionmaker[Session]) -> Path | None:
    """What `told_config` answers for every session of `sessions`."""
    config: Path | None = (sessions.kw.get("info") or {}).get(TOLD_CONFIG)
    return config


def since_key_of(since: datetime | None, *, ray: bool = False) -> str:
    """The run key of a --since (None: every photo), for `shanyraq rescore` or the Ray pipeline.

    One moment is one key however it was written: in UTC, a time without a zone taken as UTC
    (as the database stores times). `--since 2026-01-01T06:00+06:00` and `--since 2026-01-01`
    are one run, and a Ray run given a time without a zone is the one `rescore discard --ray`
    names. (Keys written before carried the offset as given: a run once keyed under a non-UTC
    offset is not found by these keys.)"""
    if since is None:
        return RAY_KEY if ray else ""
    moment = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
    return (RAY_KEY if ray else "") + moment.isoformat()


class RescoreResumeError(ShanyraqError):
    """An unfinished run was started under another scorer, engine settings or code."""

    code = "rescore_resume_mismatch"


class RescoreRestartError(ShanyraqError):
    """Only an unfinished run can be started over."""

    code = "rescore_restart_refused"


class RescoreBusyError(ShanyraqError):
    """Another process is re-scoring under the same model version."""

    code = "rescore_busy"


class RescoreMixError(ShanyraqError):
    """Another run under the model version holds unpromoted outcomes of another provenance."""

    code = "rescore_provenance_conflict"


@dataclass(frozen=True)
class Restart:
    """What `restart` discarded, for the audit entry written before scoring starts again."""

    run_id: int
    model_version: str
    since_key: str
    last_photo_id: int  # how far the run had got
    discarded_scored: int  # outcomes deleted: with a score
    discarded_failed: int  # and with a reason instead
    before: RunProvenance | None  # what the run had recorded (None: from before 0006)
    after: RunProvenance

    def details(self) -> dict[str, Any]:
        """As the audit entry's details (JSON)."""
        out = asdict(self)
        out["before"] = asdict(self.before) if self.before else None
        return out


OnRestart = Callable[[Session, Restart], None]


def open_run(
    session: Session,
    model_version: str,
    since_key: str,
    provenance: RunProvenance,
    *,
    restart: bool,
    on_restart: OnRestart | None = None,
) -> tuple[RescoreRun, bool]:
    """The run for this key, made if new, checked or started over if unfinished; (run, resumed).

    Refused (RescoreMixError) when it would write while another run under the model version
    holds unpromoted outcomes of another provenance. `on_restart` is called in this session,
    so what a restart discards is recorded in the transaction that discards it. A promoted run
    left unfinished under another provenance with nothing left to score is marked finished
    (serving/rescore_reopened.py).
    """
    from serving.rescore_reopened import close_covered

    key = (RescoreRun.model_version == model_version, RescoreRun.since_key == since_key)
    run = session.execute(select(RescoreRun).where(*key)).scalar_one_or_none()
    if run is None or restart or run.status != "done":
        check_unmixed(session, model_version, provenance, run_id=run.id if run else None)
    if run is None:
        run = RescoreRun(model_version=model_version, since_key=since_key)
        provenance.record(run)
        session.add(run)
        session.flush()
        return run, False
    if restart:
        restarted = _start_over(session, run, provenance)
        if on_restart is not None:
            on_restart(session, restarted)
        return run, False
    if run.status != "done" and not close_covered(session, run, provenance):
        check_resume(session, run, provenance)
    return run, run.last_photo_id > 0 or run.status == "done"


def check_unmixed(
    session: Session, model_version: str, provenance: RunProvenance, *, run_id: int | None
) -> None:
    """Refuse when a run under `model_version` other than `run_id` holds outcomes made under
    another provenance and was not promoted: promotion would adopt both kinds together (not a
    finished run with no score to adopt, failures only say: a promotion adopts none)."""
    from serving.rescore_refusals import mix_message

    others = session.execute(
        select(RescoreRun)
        .where(RescoreRun.model_version == model_version, RescoreRun.id != (run_id or 0))
        .order_by(RescoreRun.id)
    ).scalars()
    promoted: set[int] | None = None  # other settings may score beside these
    to_adopt: set[int] = set()  # runs holding scores a promotion has still to adopt
    for other in others:
        if RunProvenance.recorded(other) is None:
            logger.warning("re-scoring run %d predates recorded provenance; not compared", other.id)
            continue
        if other.model_artifact is None:
            logger.warning("re-scoring run %d predates its recorded model artifact", other.id)
        differs = provenance.differences(other, hints=False)
        if not differs:
            continue
        held = session.scalar(select(func.count()).where(RescoredScore.run_id == other.id))
        if not held:
            continue
        if promoted is None:  # read once, for the first run that differs
            promoted = promoted_runs(session, model_version)
            to_adopt = runs_to_adopt(session, model_version)
        if other.id in promoted or (other.status == "done" and other.id not in to_adopt):
            continue
        half = other.id in adopted_runs(session, model_version)  # by a stopped promotion
        held = held_outcomes(session, other)  # a retry's delete left some of them out
        config = told_config(session)
        raise RescoreMixError(mix_message(other, held, differs, half=half, config=config))


def is_promoted(session: Session, run: RescoreRun) -> bool:
    """Whether a `rescore promote` adopted the run's outcomes, all or some, or checked the run
    (its audit entries name it: serving/rescore_adopted.py `adopted_runs`)."""
    return run.id in adopted_runs(session, run.model_version)


def is_ray(run: RescoreRun) -> bool:
    """Whether the Ray pipeline (serving/rescore_ray.py) made `run`."""
    return run.since_key.startswith(RAY_KEY)


def run_options(since_key: str) -> str:
    """The options that name the run of `since_key` to `rescore` and `rescore discard`, as
    " --ray --since DAY" ("" for the run of every photo of `rescore`); a Ray run given a moment
    other than midnight UTC is named by that moment, which `rescore discard` also takes."""
    since = since_key.removeprefix(RAY_KEY)
    ray = " --ray" if since_key.startswith(RAY_KEY) else ""
    if since.endswith("T00:00:00+00:00"):
        since = since[:10]
    return ray + (f" --since {since}" if since else "")


def discard_command(
    run: RescoreRun | str, config: Path | None = None, model: Path | None = None
) -> str:
    """The command that discards `run` (or the run of that since key; serving/rescore_discard.py),
    for refusals and recorded reasons to name (`config`: the --config the command was given,
    None where none; `model`: the run's model folder, one word of the command, None where not
    known: DIR, for the administrator to fill in)."""
    since_key = run if isinstance(run, str) else run.since_key
    options = run_options(since_key) + config_option(config)
    return f"`shanyraq rescore discard --model {word(model or 'DIR')}{options}`"


def discard_way(run: RescoreRun, outcomes: int, config: Path | None = None) -> str:
    """How a run no promotion adopted, holding `outcomes`, makes way for scores under the
    current provenance (or the files of another model folder, serving/promote.py), with the
    --config `config` given (None: none)."""
    command = discard_command(run, config)
    return f"discard it with {command} (its {outcomes} outcome(s) are deleted)"


def check_reopen(
    session: Session, run: RescoreRun, provenance: RunProvenance, *, retry_failed: bool = False
) -> None:
    """The checks before a finished run is reopened for photos it has still to score (restored
    to the store, uploaded since it finished, recorded without a score and retried; the Ray
    pipeline's, which reads them all): `check_resume`, and `check_unmixed`, since another run
    may have scored under another provenance after a promotion adopted this one. `retry_failed`:
    reopened by `rescore --retry-failed` (the pipeline's retry_failed=True), which a refusal's
    new run needs too."""
    check_resume(session, run, provenance, retry_failed=retry_failed)
    check_unmixed(session, run.model_version, provenance, run_id=run.id)


def check_resume(
    session: Session, run: RescoreRun, provenance: RunProvenance, *, retry_failed: bool = False
) -> None:
    """Refuse (RescoreResumeError) to go on with `run` under another provenance than it
    recorded, in the words of serving/rescore_refusals.py `resume_refusal`: one for `rescore`
    and the Ray pipeline."""
    from serving.rescore_refusals import resume_refusal

    if run.scorer is None and run.engine_config is None and run.code_version is None:
        logger.warning(
            "re-scoring run %d predates recorded provenance; resuming it as %s", run.id, provenance
        )
        provenance.record(run)  # from here on, later sessions must match this one
        return
    differs = provenance.differences(run)
    if differs:
        raise RescoreResumeError(resume_refusal(session, run, differs, retry_failed))
    if run.model_artifact is None and provenance.model_artifact is not None:
        message = "re-scoring run %d predates its recorded model artifact; resuming it with %s"
        logger.warning(message, run.id, provenance.model_artifact)
        run.model_artifact = provenance.model_artifact  # later sessions must match this one


def _start_over(session: Session, run: RescoreRun, provenance: RunProvenance) -> Restart:
    """Discard an unfinished run's outcomes and begin it again under `provenance`."""
    from serving.rescore_refusals import restart_refusal

    if run.status == "done" or is_promoted(session, run):
        raise RescoreRestartError(restart_refusal(session, run))
    scored, failed = outcome_counts(session, run)
    restarted = Restart(
        run_id=run.id, model_version=run.model_version, since_key=run.since_key,
        last_photo_id=run.last_photo_id, discarded_scored=scored, discarded_failed=failed,
        before=RunProvenance.recorded(run), after=provenance,
    )  # fmt: skip
    session.execute(delete(RescoredScore).where(RescoredScore.run_id == run.id))
    run.last_photo_id, run.scored, run.failed = 0, 0, 0
    run.started_at = run.updated_at = _utcnow()
    provenance.record(run)
    session.flush()
    return restarted


def outcome_counts(session: Session, run: RescoreRun) -> tuple[int, int]:
    """The run's recorded outcomes: (with a score, with a reason instead)."""
    failed = RescoredScore.score.is_(None)
    counts = dict(
        session.execute(
            select(failed, func.count()).where(RescoredScore.run_id == run.id).group_by(failed)
        ).all()
    )
    return counts.get(False, 0), counts.get(True, 0)


HELD_BEFORE_RETRY = "rescore_outcomes_held"  # Session.info key: {run id: outcomes}


def note_held(session: Session, model_version: str) -> None:
    """Note in `session` the outcomes each run under `model_version` holds, before a retry
    deletes those without a score in this transaction: a refusal in it, which rolls the delete
    back, tells what a discard deletes (`held_outcomes`), not what is left in the transaction."""
    held = session.execute(
        select(RescoredScore.run_id, func.count())
        .where(RescoredScore.model_version == model_version)
        .group_by(RescoredScore.run_id)
    ).all()
    session.info[HELD_BEFORE_RETRY] = {run_id: count for run_id, count in held}


def held_outcomes(session: Session, run: RescoreRun) -> int:
    """The outcomes a discard of `run` deletes: as noted before a retry's delete in this
    transaction (`note_held`), else as the run holds them now."""
    noted: dict[int, int] = session.info.get(HELD_BEFORE_RETRY, {})
    return noted.get(run.id, 0) if noted else sum(outcome_counts(session, run))


def unfinished_runs(db_engine: Engine, model_version: str) -> str:
    """The model version's unfinished runs, in words (the refusal of a second one names them)."""
    with Session(db_engine) as session:
        runs = session.execute(
            select(RescoreRun.id, RescoreRun.since_key).where(
                RescoreRun.model_version == model_version, RescoreRun.status != "done"
            )
        ).all()
    return ", ".join(
        f"run {run_id}" + (f" ({run_options(since_key).strip()})" if since_key else "")
        for run_id, since_key in runs
    )
