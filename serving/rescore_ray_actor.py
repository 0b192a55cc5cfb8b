"""The Ray side of the re-scoring pipeline (serving/rescore_ray.py): what its tasks and actors run.

`read_page` is the reading tasks' map_batches function: the photo rows of one page of photo
ids the driver planned, so no block holds more than a page. `ScoreBatch` is the map_batches
callable class: each actor opens one scorer (GPU, or CPU on ONNX Runtime's CPU provider alone,
whatever GPU its node has), checks it against the provenance its run recorded (scorer path and
the ONNX Runtime provider it runs on, engine settings, the digest of the model files on its
node; the first actor of a GPU run records its provider, `_record_scorer`), and turns batches
of photo rows into `rescore_scores` rows, a photo over the stored-photo limit recorded with
the pipeline's way to score it again (serving/rescore_words.py); a batch its scorer fails on as
a whole stops the pipeline naming the run and the photos (`RescoreBatchError`).
`Database` is how the tasks reach the service database, by picklable DB-API connections. The
module imports neither the pipeline nor Ray, so a worker unpickling an actor loads only this.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from serving.rescore import read_original, stored_verdict
from serving.rescore_photos import stored_outcomes
from serving.rescore_provenance import (
    RunProvenance,
    artifact_digest,
    engine_digest,
    provider_known,
    provider_of,
    scorer_path,
    scorer_record,
)
from serving.rescore_runs import RAY_KEY, RescoreResumeError, discard_command
from serving.storage import PhotoStore
from serving.stored_decode import stored_limit
from shanyraq.errors import ShanyraqError

if TYPE_CHECKING:
    from vision.bulk import Scored


@dataclass(frozen=True)
class Database:
    """How Ray's tasks reach the service database (plain DB-API connections, picklable)."""

    url: str

    @property
    def dialect(self) -> str:
        return make_url(self.url).get_backend_name()

    def connection_factory(self) -> Callable[[], Any]:
        parsed = make_url(self.url)
        if self.dialect == "sqlite":
            path = parsed.database or ""
            return lambda: sqlite3.connect(path, timeout=60)
        if self.dialect == "postgresql":
            plain = parsed.set(drivername="postgresql").render_as_string(hide_password=False)

            def connect() -> Any:
                import psycopg

                return psycopg.connect(plain)

            return connect
        raise ShanyraqError(f"re-scoring with Ray supports SQLite and PostgreSQL, not {parsed}")

    @property
    def placeholder(self) -> str:
        return "?" if self.dialect == "sqlite" else "%s"

    def timestamp(self, when: datetime) -> Any:
        """`when` as a query parameter: a time without a zone is UTC, as the service's columns
        (serving.db.models.UTCDateTime), a run's key and `shanyraq rescore --since` take it, not
        the host's local time nor, on PostgreSQL, the database session's time zone."""
        moment = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        # SQLAlchemy keeps SQLite datetimes as text in this exact form; PostgreSQL takes objects.
        if self.dialect == "sqlite":
            return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
        return moment


PAGE_SCHEMA = {"photo_id": "int64", "sha256": "string", "quality": "string"}


def read_page(pages: dict[str, Any], *, db: Database, sql: str, params: tuple[Any, ...]) -> Any:
    """map_batches function: the rows of `sql` (serving.rescore_ray.read_query, paged) for each
    page of photo ids (after, last] in `pages`, as one Arrow table (quality as JSON text)."""
    import pyarrow as pa

    connection = db.connection_factory()()
    try:
        rows: list[Any] = []
        for after, last in zip(pages["after"], pages["last"], strict=True):
            cursor = connection.cursor()
            cursor.execute(sql, (*params, int(after), int(last)))
            rows += cursor.fetchall()
    finally:
        connection.close()
    columns = {
        "photo_id": [int(row[0]) for row in rows],
        "sha256": [str(row[1]) for row in rows],
        "quality": [row[2] if isinstance(row[2], str) else json.dumps(row[2]) for row in rows],
    }
    schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in PAGE_SCHEMA.items()])
    return pa.table(columns, schema=schema)


class RescoreBatchError(ShanyraqError):
    """A Ray actor's scorer failed on a whole batch (a device out of memory, a runtime error)."""

    code = "rescore_batch_failed"
    http_status = 500

    @classmethod
    def of(cls, run_id: int, photo_ids: list[int], exc: Exception) -> RescoreBatchError:
        ids = f"photos {photo_ids[0]} to {photo_ids[-1]}" if photo_ids else "no photo"
        return cls(
            f"re-scoring run {run_id} could not score a batch of {len(photo_ids)} ({ids}): "
            f"{type(exc).__name__}: {exc}. The outcomes written before stay; run the pipeline "
            "again to score the rest (with a smaller batch_size if a device ran out of memory)"
        )


class ScoreBatch:
    """map_batches callable class: opens the scorer once per actor, scores batches of rows."""

    def __init__(
        self,
        *,
        model_dir: str,
        store_root: str,
        run_id: int,
        db_url: str,
        prefer: str,
        max_pixels: int,
        decode_short_side: int | None,
        provenance: RunProvenance | None = None,
        read_max_pixels: int | None = None,
        since_key: str = RAY_KEY,
        config: Path | None = None,
    ) -> None:
        from vision.bulk import open_scorer

        if provenance is not None and provenance.model_artifact is not None:
            _check_model_files(Path(model_dir), run_id, provenance.model_artifact)
        path = _path(prefer, provenance)
        # The CPU path runs on ONNX Runtime's CPU provider alone (vision.bulk), though Ray
        # leaves a GPU-less actor its node's GPUs visible. `max_pixels` is today's upload
        # limit: originals filed under a higher one are read under the stored-photo limit
        # (serving.storage.stored_limit), never recorded as failed for being too large. The
        # driver computes it once (`read_max_pixels`), so every node reads under the same one.
        if read_max_pixels is None:
            read_max_pixels = stored_limit(max_pixels)  # this node's config
        self.scorer = open_scorer(
            Path(model_dir), prefer=path,  # type: ignore[arg-type]
            max_pixels=read_max_pixels, decode_short_side=decode_short_side,
        )  # fmt: skip
        # Of configs/engine.yaml as it stands, as the pipeline digested it.
        decode = getattr(self.scorer, "decode_short_side", None)
        found = (self.scorer.name, engine_digest(decode_short_side=decode, engine_config=None))
        self.db = Database(db_url)
        if provenance is not None:
            recorded = (scorer_path(provenance.scorer), provenance.engine_config)
            if found != recorded:
                raise RescoreResumeError(
                    f"this Ray actor scores on the {found[0]} path (engine settings "
                    f"{found[1]}), but re-scoring run {run_id} recorded the {recorded[0]} path "
                    f"(engine settings {recorded[1]}); ask for the path by prefer='cpu' or "
                    "'gpu' (with num_gpus_per_actor), not 'auto'"
                )
            actual = scorer_record(self.scorer.name, provider_of(self.scorer))
            if provider_known(provenance.scorer) and actual != provenance.scorer:
                raise _provider_refusal(run_id, actual, provenance.scorer)
            if "/" in actual:  # the path alone does not say it: the run records it
                _record_scorer(self.db, run_id, scorer_path(actual), actual)
        self.store = PhotoStore(Path(store_root))
        self.run_id = run_id
        self.model_dir = Path(model_dir)  # the pipeline's (absolute), which that reason names
        self.since_key = since_key  # the run's, which the reason of a photo too large names
        self.config = config  # the site's serving.yaml, which that reason's command carries

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        from vision.bulk import PhotoBytes

        items: list[PhotoBytes] = []
        outcomes: dict[int, tuple[str | None, str | None]] = {}
        for photo_id, sha256, quality in zip(
            batch["photo_id"], batch["sha256"], batch["quality"], strict=True
        ):
            data = read_original(self.store, str(sha256))
            if isinstance(data, str):  # missing or damaged in the store: the reason
                outcomes[int(photo_id)] = (None, data)
                continue
            stored = json.loads(quality) if isinstance(quality, str) else quality
            items.append(PhotoBytes(int(photo_id), str(sha256), data, stored_verdict(stored)))
        try:
            scored_batch = self.scorer.infer(self.scorer.prepare(items))
        except Exception as exc:  # the batch's, not one photo's (the scorers keep those apart)
            raise RescoreBatchError.of(self.run_id, [item.key for item in items], exc) from exc
        for scored in self._outcomes(scored_batch):
            score = json.dumps(scored.score.to_dict()) if scored.score else None
            outcomes[scored.key] = (score, scored.error or None)
        now = self.db.timestamp(datetime.now(UTC))
        ids = sorted(outcomes)
        return {
            "photo_id": ids,
            "model_version": [self.scorer.model_version] * len(ids),
            "run_id": [self.run_id] * len(ids),
            "score": [outcomes[i][0] for i in ids],
            "error": [outcomes[i][1] for i in ids],
            "created_at": [now] * len(ids),
        }

    def _outcomes(self, scored: list[Scored]) -> list[Scored]:
        """`scored` as a re-scoring records the store's photos (`stored_outcomes`), one over
        the stored-photo limit naming the pipeline's way to score it again, not `rescore`'s,
        and the discard of its run: the model folder the pipeline was started on (one word of
        the command as a shell reads it), the run's --ray --since, and the site's database
        (the --config the pipeline was given)."""
        discard = discard_command(self.since_key, self.config, self.model_dir)
        return stored_outcomes(self.scorer, scored, ray_discard=discard)


def _path(prefer: str, provenance: RunProvenance | None) -> str:
    """The path an actor asks for: "auto" is the run's, where it recorded the CPU path (no GPU
    per actor, `expected_provenance`), so an actor on a node with a GPU scores on the CPU too."""
    recorded_cpu = provenance is not None and provenance.scorer == "cpu"
    return "cpu" if prefer == "auto" and recorded_cpu else prefer


def _record_scorer(db: Database, run_id: int, path: str, actual: str) -> None:
    """Record in the run the provider this actor's model runs on (`actual`, a scorer_record),
    where it still records the `path` alone: the first actor of a run does; the others, and
    later calls, must then run on the same one (compare-and-set, so two actors starting
    together cannot both record theirs)."""
    p = db.placeholder
    connection = db.connection_factory()()
    try:
        cursor = connection.cursor()
        cursor.execute(
            f"UPDATE rescore_runs SET scorer = {p} WHERE id = {p} AND scorer = {p}",
            (actual, run_id, path),
        )
        cursor.execute(f"SELECT scorer FROM rescore_runs WHERE id = {p}", (run_id,))
        row = cursor.fetchone()
        connection.commit()
    finally:
        connection.close()
    recorded = row[0] if row else None
    if recorded != actual:
        raise _provider_refusal(run_id, actual, str(recorded))


def _provider_refusal(run_id: int, actual: str, recorded: str) -> RescoreResumeError:
    """This actor runs on another ONNX Runtime provider than its run recorded (TensorRT on one
    node, CUDA on another: other numbers under one run)."""
    return RescoreResumeError(
        f"this Ray actor scores as {actual!r} (path/ONNX Runtime provider), but re-scoring run "
        f"{run_id} recorded {recorded!r}: its scores would mix two providers under one run; "
        "give every Ray node the providers the run recorded (configs/engine.yaml "
        "runtime.providers, the TensorRT or CUDA libraries), then run it again"
    )


def _check_model_files(model_dir: Path, run_id: int, recorded: str) -> None:
    """An actor's model folder holds the files its run recorded: on a cluster each node reads
    the folder from its own disk, and another copy there would mix two models in one run."""
    found = artifact_digest(model_dir)
    if found != recorded:
        raise RescoreResumeError(
            f"this Ray actor reads model files of digest {found!r} in {model_dir}, but "
            f"re-scoring run {run_id} recorded {recorded!r}: its scores would mix two models "
            "under one run; give every Ray node the same model folder as the one the pipeline "
            "was started with, then run it again"
        )
