"""Helpers of the tests that follow re-scoring refusals to their way out: the files of a
service to run `shanyraq` on, the run the Ray pipeline leaves behind (stopped, finished, or
finished with a failure), a promotion stopped after its first photo (Ctrl-C), a service whose
promotion was so stopped, a photo uploaded and the code updated since (its run reopened for
that photo and stopped, or not), and what the promotions then did; the tiny model, a copy of
it a test may edit (and a copy recalibrated), a database with its scorer, a run stopped after a
batch, Ray started on this machine or kept from starting, and a promotion's audit entry."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving import audit
from serving.cli import anchored_sessions, load_settings, open_with_key
from serving.db.models import Photo, RescoredScore, RescoreRun
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.promote import promote
from serving.rescore import rescore
from serving.rescore_ray import expected_provenance
from serving.rescore_runs import open_run, since_key_of
from serving.storage import PhotoStore
from tests.serving.cli_helpers import run_cli
from tests.serving.helpers import jpeg
from tests.serving.rescore_fixtures import (
    DAY0,
    OLD_VERSION,
    PROMOTED,
    STOPPED,
    cli_config,
    cpu_scorer,
    filed_and_rescored,
    populate,
    promotion_entries,
    stop_after_first_batch,
    tiny_model,
)
from vision.artifact import Temperatures, read_artifact, write_artifact

VERSION = "test-0"  # tiny_model(seed=0)
# The code the service ran before an update, and after it (shanyraq.provenance.code_version).
OLD_CODE, NEW_CODE = "0.1.0+aaaaaaaaaaaa", "0.1.0+bbbbbbbbbbbb"
MAX_PIXELS = 50_000_000  # the scorers' pixel limit: every test photo is under it
KEY = b"test-secret-key-0123456789abcdef"  # the key promotions' audit entries are signed with
# The way out a refusal names for a run of the Ray pipeline, and for one of `rescore`.
RAY_DISCARD = "discard it with `shanyraq rescore discard --model DIR --ray`"
PLAIN_DISCARD = "discard it with `shanyraq rescore discard --model DIR`"
# Where a run's photos could not be scored for a reason that does not last: the photo stored
# over LOW (index BIG of `populate`'s photos, stored larger) but under RAISED, or an error of
# the moment (OUT_OF_MEMORY).
LOW = 10_000  # a limit the fixtures' 96 x 72 photos are under and BIG's 200 x 150 over
RAISED = 50_000_000
BIG = 1  # the index of the photo stored larger
OUT_OF_MEMORY = "CUDA out of memory (a device error of the moment)"


class Stop(Exception):
    """What `stop` raises: a run stopped part-way, as an interrupted one is."""


def stop(_done: int) -> None:
    """An `on_batch` of rescore: stops the run (Stop) once its first batch is committed."""
    raise Stop


class NoRay:
    """Stands for the `ray` module where a refusal (or nothing to do) must come before Ray
    starts: any use of it fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Ray was started (ray.{name}) where it should not have been")


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Ray pipeline given NoRay for `ray`: a test in which Ray starts fails."""
    monkeypatch.setattr("serving.rescore_ray._ray", lambda: NoRay())


@pytest.fixture
def model_copy(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """A copy of the tiny model the test may edit."""
    copy = tmp_path / "model"
    shutil.copytree(tiny_model(tmp_path_factory.mktemp("models")), copy)
    return copy


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model (VERSION), made once for the test module."""
    return tiny_model(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """Ray started on this machine (2 CPUs) for the test module; skipped where Ray is not
    installed."""
    ray = pytest.importorskip("ray", reason="ray is an optional extra: pip install 'ray[data]'")
    pytest.importorskip("ray.data")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def recalibrate(model_dir: Path) -> None:
    """Edit model.json's temperatures; the model version stays the same."""
    artifact = read_artifact(model_dir)
    edited = artifact.model_copy(update={"temperatures": Temperatures(room=2.5, condition=0.5)})
    write_artifact(model_dir, edited)
    assert read_artifact(model_dir).model_version == artifact.model_version


def stored_with_scorer(tmp_path: Path, model: Path, n: int) -> tuple[str, Any, Any, Any]:
    """A SQLite database of `n` stored photos: (its URL, `populate`'s photos, its engine, a CPU
    scorer of `model`)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored = populate(url, tmp_path / "photos", n)
    return url, stored, make_engine(url), cpu_scorer(model, max_pixels=MAX_PIXELS)


def run_rows(url: str) -> list[tuple[int, str, str]]:
    """Each re-scoring run in the database at `url`, by id: (id, since key, status)."""
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        rows = session.execute(select(RescoreRun).order_by(RescoreRun.id)).scalars().all()
        out = [(r.id, r.since_key, r.status) for r in rows]
    engine.dispose()
    return out


def record_promotion(engine: Any, run_ids: list[int]) -> None:
    """The audit entry `rescore promote` appends for the runs it adopted under VERSION."""
    with session_scope(make_session_factory(engine)) as session:
        audit.append(
            session, KEY, actor="cli", action="scores_promoted", target=f"model:{VERSION}",
            details={"run_ids": run_ids},
        )  # fmt: skip


def new_code(monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    """The service's code updated since (RunProvenance reads the code version when asked): set
    over the version tests/serving/conftest.py keeps for the test, for the rest of it."""
    monkeypatch.setattr("shanyraq.provenance.code_version", lambda folder=None: version)


def late_upload(url: str, store: PhotoStore, *, day: int, seed: int) -> int:
    """A photo of F1 uploaded on DAY0 + `day` while the service still scored with the old model."""
    data = jpeg(2000 + seed, size=(96, 72))
    store.put(data)
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            photo = Photo(
                family_id="F1", sha256=hashlib.sha256(data).hexdigest(), format="jpeg",
                width=96, height=72, size_bytes=len(data),
                quality={"status": "pass", "reasons": []}, score={"model_version": OLD_VERSION},
                model_version=OLD_VERSION, uploaded_by=1, created_at=DAY0 + timedelta(days=day),
            )  # fmt: skip
            session.add(photo)
            session.flush()
            return photo.id
    finally:
        engine.dispose()


def cli_service(tmp_path: Path, n: int, model: Path) -> tuple[Path, str, Path]:
    """(serving.yaml, database URL, photo store root) of `cli_config`'s service of n photos."""
    config = cli_config(tmp_path, n, model_dir=model)
    data = tmp_path / "data"
    return config, f"sqlite:///{data / 'shanyraq.db'}", data / "photos"


def stopped_ray_run(
    url: str,
    model: Path,
    photo_ids: list[int],
    *,
    since: datetime | None = None,
    done: bool = False,
) -> int:
    """The run `rescore_with_ray(..., since=since)` (prefer="cpu") leaves behind when stopped
    after scoring `photo_ids`: opened as the pipeline opens it, an outcome for each; finished
    instead when `done` (its actors not run); its id."""
    provenance = expected_provenance(
        model, prefer="cpu", num_gpus_per_actor=0, decode_short_side=None
    )
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        run, _ = open_run(session, VERSION, since_key_of(since, ray=True), provenance,
                          restart=False)  # fmt: skip
        session.add_all(
            RescoredScore(photo_id=i, model_version=VERSION, run_id=run.id, score={"marker": i})
            for i in photo_ids
        )
        if done:
            run.status, run.scored = "done", len(photo_ids)
        run_id = run.id
    engine.dispose()
    return run_id


def failed_ray_run(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, Path, int]:
    """A service of 3 photos whose Ray run, finished under OLD_CODE, scored photos 1 and 3 and
    recorded photo 2 without a score (OUT_OF_MEMORY): (database URL, photo store root, run id).
    The code stays OLD_CODE."""
    new_code(monkeypatch, OLD_CODE)
    _, url, store_root = cli_service(tmp_path, 3, model_dir)
    run_id = stopped_ray_run(url, model_dir, [1, 3], done=True)
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        session.add(RescoredScore(photo_id=2, model_version=VERSION, run_id=run_id,
                                  error=OUT_OF_MEMORY))  # fmt: skip
        session.get_one(RescoreRun, run_id).failed = 1
    engine.dispose()
    return url, store_root, run_id


def promotion_stopped_after_one(sessions: Any, key: bytes, model: Path, *, actor: str) -> None:
    """`promote` onto `model` in batches of one photo, stopped (Ctrl-C) after the first: one
    photo adopted, the promotion audited as stopped."""
    with pytest.raises(KeyboardInterrupt):
        promote(sessions, key, model_dir=model, serving_model_dir=model, actor=actor,
                batch_size=1, on_batch=stop_after_first_batch)  # fmt: skip


def half_promoted_then_updated(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, str, int]:
    """Run 1 of every photo (`shanyraq rescore`, the old code), its promotion stopped after
    photo 1 (Ctrl-C), a photo uploaded since, then the code updated; (serving.yaml, database
    URL, the late photo's id)."""
    new_code(monkeypatch, OLD_CODE)
    config, url, store_root = cli_service(tmp_path, 3, model)
    scored = run_cli("rescore", "--model", model, "--config", config, "--device", "cpu",
                     "--no-progress")  # fmt: skip
    assert scored.exit_code == 0, scored.output
    settings = load_settings(config)
    db_engine, key = open_with_key(settings, may_create=False)
    promotion_stopped_after_one(
        anchored_sessions(settings, db_engine, None), key, model, actor="cli"
    )
    db_engine.dispose()
    late = late_upload(url, PhotoStore(store_root), day=10, seed=1)
    new_code(monkeypatch, NEW_CODE)
    return config, url, late


def unfinished_half_promoted(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, str]:
    """`half_promoted_then_updated`, run 1 reopened for the late photo and stopped before
    scoring it; (serving.yaml, database URL)."""
    config, url, _ = half_promoted_then_updated(tmp_path, model, monkeypatch)
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        session.get_one(RescoreRun, 1).status = "running"  # reopened for it, then stopped
    engine.dispose()
    return config, url


# What the promotions of `half_promoted_then_updated`'s service did, once the way out by
# `rescore promote --adopt-rest`, a new run and a promotion was followed: (action, run ids,
# photos updated) of each, as `promotions` reads them.
ADOPT_REST_WALK = [
    (STOPPED, [1], 1),  # Ctrl-C
    (STOPPED, [1], 2),  # --adopt-rest: the rest of run 1, then stopped for the late photo
    (PROMOTED, [2], 1),  # the new run's photo
]


def promotions(url: str) -> list[tuple[str, list[int], int]]:
    """Each promotion's audit entry, in order: (action, run ids, photos updated)."""
    engine = make_engine(url)
    entries = promotion_entries(make_session_factory(engine))
    engine.dispose()
    return [(action, details["run_ids"], details["updated"]) for action, details in entries]


def on_model(url: str) -> set[int]:
    """The photos the service scores with VERSION (a promotion adopted their new score)."""
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        photos = set(session.scalars(select(Photo.id).where(Photo.model_version == VERSION)))
    engine.dispose()
    return photos


@pytest.fixture
def two_runs(make_service: Any, models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Any:
    """F1 and F2 (photos 1-4) re-scored by run 1, photos 5 and 6 uploaded after it (the
    service still on the old model) and re-scored by run 2, under one code version; nothing
    promoted: the service. Needs the `models` fixture of rescore_fixtures in the module."""
    _, new = models
    new_code(monkeypatch, OLD_CODE)  # the working tree's own version may change meanwhile
    service = filed_and_rescored(make_service, models)
    services = service.services
    since = datetime.now(UTC)
    for seed in (81, 82):
        assert service.upload("F1", jpeg(seed)).status_code == 201
    late = rescore(services.db_engine, services.store, cpu_scorer(new), since=since,
                   progress=False)  # fmt: skip
    assert late.complete and late.scored == 2 and late.run_id == 2
    return service
