"""The re-scoring as a Ray Data pipeline, for when the photo store outgrows one machine.

read (the photos not yet scored, in pages of photo ids the driver plans by keyset in a read
transaction, `read_pages`: no block holds more than a page, no write lock is held) ->
map_batches (`ScoreBatch`, serving/rescore_ray_actor.py: one scorer per actor, GPU or CPU) ->
write (the same `rescore_scores` table as `serving.rescore`, with ON CONFLICT DO NOTHING).
Only the actors hold CPUs (one each, and their GPUs): reading and writing, database work,
reserve none, so neither waits for a CPU the pool holds (with one CPU it hung), and a pool the
cluster cannot hold is refused before it starts (`RayResourcesError`), not waited for forever.
Resumable by construction: a re-run reads only photos with no outcome under the version yet,
and the unique (photo, model version) key refuses a second outcome for any photo. A run records
its provenance as `serving.rescore` does (`expected_provenance`; each actor checks again its
path, engine settings and model files, and the first actor of a GPU run records the ONNX
Runtime provider it really runs on, which the others must share), and is refused in the same
cases and words (serving/rescore_runs.py); having no --restart, the way to score again under
the current provenance is `shanyraq rescore discard --model DIR --ray`. With nothing to read,
Ray is not started. `ray` is an optional extra, imported only when this runs.

As `rescore` does, the pipeline holds the re-scoring lock of its model version for the whole
run (serving/rescore_lock.py: `rescore promote` and `rescore discard` are refused meanwhile, and
it is refused while one of them runs); it discards the outcomes of photos in its scope recorded
(by any run of the version) as missing or damaged in the store once they read intact again, and
scores them (`retry_restored`); with `retry_failed` it discards the other outcomes without a
score in its scope too (an error of the moment, a photo over the stored-photo limit raised
since) and scores them again, as `rescore --retry-failed` does (`retry_failed`); a finished run
it reopens for those or for photos filed since is marked running while it scores
(`reopen_for_uncovered`) and done when no photo in scope is left uncovered (`first_uncovered`),
so no promotion adopts it part-way. The run is opened in serving/rescore_ray_open.py.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from serving.db.models import Photo
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.rescore import DAMAGED_IDS_SHOWN, RescoreRun, ensure_tables
from serving.rescore_lock import rescore_lock
from serving.rescore_photos import first_uncovered, not_yet_scored, photo_scope, scope_outcomes
from serving.rescore_provenance import RunProvenance
from serving.rescore_ray_actor import Database, ScoreBatch, read_page
from serving.rescore_ray_open import OpenedRun, open_pipeline_run
from serving.rescore_reads import read_sessions
from serving.rescore_runs import outcome_counts, since_key_of, tell_config, unfinished_runs
from serving.storage import PhotoStore
from serving.stored_decode import stored_limit
from shanyraq.errors import ModelMismatchError, ShanyraqError
from shanyraq.shell_words import config_option
from vision.artifact import read_artifact

logger = logging.getLogger(__name__)


def ray_missing(config: Path | None = None) -> str:
    """The refusal where Ray is not installed; its one-machine way carries the site's --config
    (`config`, the pipeline's; None: none), so that it re-scores the same database."""
    return (
        "Ray is not installed; install the optional extra with `pip install 'ray[data]>=2.9'` "
        "(or `pip install 'shanyraq[ray]'`), or re-score on one machine with "
        f"`shanyraq rescore --model DIR{config_option(config)}`"
    )


RAY_MISSING = ray_missing()
WRITE_COLUMNS = ("photo_id", "model_version", "run_id", "score", "error", "created_at")
ENTRY_POINT = "serving.rescore_ray.rescore_with_ray"  # the lock's holder: it has no command
ACTOR_CPUS = 1  # what each scoring actor holds (Ray Data's default for a GPU one too)


class RayMissingError(ShanyraqError):
    code = "ray_missing"
    http_status = 500


class RayResourcesError(ShanyraqError):
    """The Ray cluster cannot hold the pool of scoring actors asked for (Ray waits forever)."""

    code = "ray_resources"
    http_status = 500


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise RayMissingError(RAY_MISSING) from None
    return ray


def _absolute(database_url: str, store_root: Path, model_dir: Path) -> tuple[str, Path, Path]:
    """The three as absolute paths: a SQLite file's too (a server's URL is left as it is)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        url = url.set(database=str(Path(url.database).absolute()))
        database_url = url.render_as_string(hide_password=False)
    return database_url, Path(store_root).absolute(), Path(model_dir).absolute()


def read_query(
    db: Database, model_version: str, since: datetime | None, *, paged: bool = False
) -> tuple[str, tuple[Any, ...]]:
    """SQL (with the dialect's placeholders) for the photos in scope not yet scored; `paged`:
    of one page, whose bounds (after, last] follow `params` (`read_page`)."""
    p = db.placeholder
    sql = (
        "SELECT p.id AS photo_id, p.sha256 AS sha256, p.quality AS quality FROM photos p "
        "WHERE NOT EXISTS (SELECT 1 FROM rescore_scores s "
        f"WHERE s.photo_id = p.id AND s.model_version = {p})"
    )
    params: tuple[Any, ...] = (model_version,)
    if since is not None:
        sql += f" AND p.created_at >= {p}"
        params += (db.timestamp(since),)
    if paged:
        sql += f" AND p.id > {p} AND p.id <= {p}"
    return sql + " ORDER BY p.id", params


def read_pages(
    session: Any, model_version: str, since: datetime | None, *, page_rows: int
) -> list[tuple[int, int]]:
    """Pages (after, last] of photo ids that cover the photos in scope not yet scored, each of
    at most `page_rows` of them: the bounds walked by keyset on the driver, one id a page."""
    unscored = (*photo_scope(since), not_yet_scored(model_version))
    first = session.scalar(select(func.min(Photo.id)).where(*unscored))
    pages: list[tuple[int, int]] = []
    if first is None:
        return pages
    after = first - 1
    while True:
        ahead = select(Photo.id).where(*unscored, Photo.id > after).order_by(Photo.id)
        last = session.scalar(ahead.offset(page_rows - 1).limit(1))
        if last is None:  # the last page: up to the last photo to read
            last = session.scalar(select(func.max(Photo.id)).where(*unscored, Photo.id > after))
            return pages + ([(after, last)] if last is not None else [])
        pages.append((after, last))
        after = last


@dataclass(frozen=True)
class RayRescoreReport:
    """Counted as `rescore`'s report (serving.rescore.RescoreReport) counts: `scored` and
    `failed` are the run's own outcomes, its scope's apart (`scope_outcomes`)."""

    run_id: int
    model_version: str
    in_scope: int
    scored: int  # photos this run gave a new score (all its calls; not other runs')
    failed: int  # photos this run recorded a reason for instead (all its calls)
    written_now: int
    complete: bool  # the run is done: no photo in scope is left without an outcome or a score
    restored: int = 0  # photos restored to the store whose damage outcomes this call discarded
    retried: int = 0  # outcomes without a score this call discarded to score again
    # Photos in scope recorded as damage to the store (STORE_DAMAGE, by any run of the version,
    # each re-checked by this call): once restored, any run whose scope holds them scores them.
    store_damaged: int = 0
    store_damaged_ids: list[int] = field(default_factory=list)  # the first few
    store_damaged_by_run: int = 0  # of store_damaged, recorded by this run (among failed)
    by_other_runs: int = 0  # photos in scope with an outcome another run of the version recorded
    still_to_score: int = 0  # photos in scope with neither an outcome nor a score from upload
    # What the run records as its scorer: the path, and the ONNX Runtime provider its actors
    # ran on once one of them recorded it ("gpu/cuda"; "cpu": the CPU path on the CPU).
    scorer: str | None = None


def rescore_with_ray(
    database_url: str,
    store_root: Path,
    model_dir: Path,
    *,
    model_version: str,
    since: datetime | None = None,
    batch_size: int = 256,
    concurrency: int = 1,
    prefer: str = "auto",
    max_pixels: int,
    decode_short_side: int | None = None,
    num_gpus_per_actor: float = 0.0,
    data_dir: Path | None = None,
    read_page_rows: int = 10_000,
    retry_failed: bool = False,
    config: Path | None = None,
) -> RayRescoreReport:
    """Run the pipeline on the Ray cluster `ray.init` connected to (a local one if none).

    Holds the re-scoring lock of `model_version` (serving/rescore_lock.py) for the whole run,
    in `data_dir`, the service's data folder (default: the folder holding `store_root`, as the
    service keeps its photo store in <data_dir>/photos); while another re-scoring command of
    the version holds it, refused (RescoreBusyError) before anything is read or written.
    Refused too (ModelMismatchError) when `model_dir` holds another model than
    `model_version`: its rows would go under the model's own version, the run's never done.
    Paths are made absolute here, where given (a worker resolves one in its own folder), and
    the limit originals are read under is computed here (`stored_limit(max_pixels)`, of today's
    io.max_pixels) for all actors alike. Photos are read `read_page_rows` at a time (`read_pages`).
    `since` without a zone is UTC, as `shanyraq rescore --since DAY` takes a day (midnight UTC):
    the run's key, its scope and the actors' query all read it so, whatever the host's zone.
    `retry_failed` scores again the photos in scope recorded without a score, whichever run
    recorded them (`retry_failed` of serving.rescore_photos, as `rescore(..., retry_failed=True)`;
    an undecodable photo fails again), reopening a finished run, promoted or not, for them; a
    run recorded under another provenance is refused (RescoreResumeError) and keeps them.
    `config`: the serving.yaml of the site whose database and store these are (None: the
    default configs'), which the `shanyraq` commands its refusals and recorded reasons tell
    carry as --config, so that they act on this site, not on the default data folder.
    """
    if read_page_rows < 1:
        raise ValueError("read_page_rows must be at least 1")
    try:
        ray = _ray()
    except RayMissingError:
        raise RayMissingError(ray_missing(config)) from None
    database_url, store_root, model_dir = _absolute(database_url, store_root, model_dir)
    found = read_artifact(model_dir).model_version
    if found != model_version:
        raise ModelMismatchError(
            f"{model_dir} holds model {found}, not {model_version}: give the folder of "
            f"{model_version}, or model_version={found!r}"
        )
    engine = make_engine(database_url)
    try:
        ensure_tables(engine)
        sessions = make_session_factory(engine)
        tell_config(sessions, config)  # the commands its refusals tell carry it
        provenance = expected_provenance(
            model_dir, prefer=prefer, num_gpus_per_actor=num_gpus_per_actor,
            decode_short_side=decode_short_side,
        )  # fmt: skip
        runs = functools.partial(unfinished_runs, engine, model_version)
        lock_dir = data_dir if data_dir is not None else store_root.parent
        with rescore_lock(lock_dir, model_version, runs=runs, entry_point=ENTRY_POINT):
            opened = open_pipeline_run(
                sessions, PhotoStore(store_root), model_version, since, provenance,
                retry=retry_failed,
            )  # fmt: skip
            before = _own_outcomes(sessions, opened.run_id)
            if opened.to_read:  # else nothing to score: Ray is not started for nothing
                with read_sessions(sessions) as reads, reads() as session:  # no write lock
                    pages = read_pages(session, model_version, since, page_rows=read_page_rows)
                # The provider its actors must run on, where the run (or another) recorded it.
                provenance = replace(provenance, scorer=opened.scorer)
                actor = {
                    "model_dir": str(model_dir), "store_root": str(store_root),
                    "run_id": opened.run_id, "db_url": database_url, "prefer": prefer,
                    "max_pixels": max_pixels, "decode_short_side": decode_short_side,
                    "provenance": provenance, "read_max_pixels": stored_limit(max_pixels),
                    "since_key": since_key_of(since, ray=True), "config": config,
                }  # fmt: skip
                _score(
                    ray, Database(database_url), model_version, since, actor, pages=pages,
                    batch_size=batch_size, concurrency=concurrency,
                    num_gpus_per_actor=num_gpus_per_actor,
                )  # fmt: skip
            return _finish(sessions, opened, model_version, since, before)
    finally:
        engine.dispose()


def _score(
    ray: Any,
    db: Database,
    model_version: str,
    since: datetime | None,
    actor: dict[str, Any],
    *,
    pages: list[tuple[int, int]],
    batch_size: int,
    concurrency: int,
    num_gpus_per_actor: float,
) -> None:
    """Read the photos in scope not yet scored, a page at a time (`pages`), score them on a
    pool of `ScoreBatch` actors (constructed with `actor`), write their outcomes."""
    sql, params = read_query(db, model_version, since, paged=True)
    factory = db.connection_factory()
    if not ray.is_initialized():
        ray.init(include_dashboard=False)
    check_resources(ray.cluster_resources(), concurrency, num_gpus_per_actor)
    bounds = [{"after": after, "last": last} for after, last in pages]
    # Database work holds no CPU: with the actors holding them all, it still runs.
    rows = ray.data.from_items(bounds).map_batches(
        read_page, batch_size=1, num_cpus=0, concurrency=max(1, concurrency),
        fn_kwargs={"db": db, "sql": sql, "params": params},
    )  # fmt: skip
    # A GPU actor holds ACTOR_CPUS too, Ray Data's default (both given, Ray Data warns).
    held = {"num_gpus": num_gpus_per_actor} if num_gpus_per_actor else {"num_cpus": ACTOR_CPUS}
    scored = rows.map_batches(
        ScoreBatch,
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        fn_constructor_kwargs=actor,
        **held,
    )
    p = db.placeholder
    insert = (
        f"INSERT INTO rescore_scores ({', '.join(WRITE_COLUMNS)}) "
        f"VALUES ({', '.join([p] * len(WRITE_COLUMNS))}) "
        "ON CONFLICT (photo_id, model_version) DO NOTHING"
    )
    scored.write_sql(insert, factory, ray_remote_args={"num_cpus": 0})


def check_resources(cluster: dict[str, float], concurrency: int, num_gpus_per_actor: float) -> None:
    """Refuse (RayResourcesError) a pool of `concurrency` actors the cluster (its
    `ray.cluster_resources()`) cannot hold: Ray Data would wait for it forever."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    needs = {"CPU": concurrency * ACTOR_CPUS, "GPU": concurrency * num_gpus_per_actor}
    short = {kind: n for kind, n in needs.items() if n > cluster.get(kind, 0)}
    if short:
        has = ", ".join(f"{cluster.get(kind, 0):g} {kind}" for kind in short)
        need = ", ".join(f"{n:g} {kind}" for kind, n in short.items())
        raise RayResourcesError(
            f"the Ray cluster has {has}, but {concurrency} scoring actor(s) need {need} "
            f"({ACTOR_CPUS} CPU and {num_gpus_per_actor:g} GPU each; reading and writing "
            "need none): lower concurrency or num_gpus_per_actor, or give the cluster more"
        )


def expected_provenance(
    model_dir: Path, *, prefer: str, num_gpus_per_actor: float, decode_short_side: int | None
) -> RunProvenance:
    """The provenance the actors' scorers will have (each actor checks its path and engine
    settings, `ScoreBatch`), with the digest of the model's files they all load. The GPU
    path's ONNX Runtime provider is not known here: the first actor records it in the run.

    "auto" is the GPU path where actors are given a GPU, else the CPU path; the CPU path
    decodes as vision.bulk.CpuBytesScorer does, never below the model's input size.
    """
    path = prefer if prefer != "auto" else ("gpu" if num_gpus_per_actor else "cpu")
    if path != "cpu" or decode_short_side is None:
        return RunProvenance.for_path(path, decode_short_side=None, model_dir=model_dir)
    from vision.artifact import read_artifact

    size = read_artifact(model_dir).preprocessing.size
    return RunProvenance.for_path(
        "cpu", decode_short_side=max(decode_short_side, size), model_dir=model_dir
    )


def _own_outcomes(sessions: Any, run_id: int) -> tuple[int, int]:
    """(scored, failed): the outcomes the run recorded, in all its calls."""
    with session_scope(sessions) as session:
        return outcome_counts(session, session.get_one(RescoreRun, run_id))


def _finish(
    sessions: Any,
    opened: OpenedRun,
    model_version: str,
    since: datetime | None,
    before: tuple[int, int],
) -> RayRescoreReport:
    """The run's own counts recorded (as `rescore` records its run's), and the run marked done
    once no photo in scope is left without an outcome or a score by the model from its upload
    (`first_uncovered`, as `rescore` finishes its run and as promotion checks): a photo filed
    under the old model while the actors scored leaves it running, for the next call to score."""
    with session_scope(sessions) as session:
        in_scope = session.scalar(select(func.count(Photo.id)).where(*photo_scope(since))) or 0
        run = session.get_one(RescoreRun, opened.run_id)
        scored, failed = outcome_counts(session, run)
        run.scored, run.failed = scored, failed
        run.updated_at = datetime.now(UTC)
        if run.status != "done" and first_uncovered(session, model_version, since) is None:
            run.status, run.finished_at = "done", datetime.now(UTC)
        complete, scorer = run.status == "done", run.scorer
        scope = scope_outcomes(session, run, since, ids_shown=DAMAGED_IDS_SHOWN)
    return RayRescoreReport(
        run_id=opened.run_id, model_version=model_version, in_scope=in_scope, scored=scored,
        failed=failed, written_now=scored + failed - sum(before), complete=complete,
        restored=opened.restored, retried=opened.retried, scorer=scorer,
        store_damaged=scope.store_damaged, store_damaged_ids=scope.store_damaged_ids,
        store_damaged_by_run=scope.store_damaged_by_run, by_other_runs=scope.by_other_runs,
        still_to_score=scope.still_to_score,
    )  # fmt: skip
