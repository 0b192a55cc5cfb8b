"""Helpers of the re-scoring and promotion tests: a service database with stored photos, a tiny
model (and the two a promotion goes between), its scorer, the pixel limits an administrator
sets, and a promotion or a re-scoring run with its audit entries."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving.db.models import AuditEntry, Family, Photo, User
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.migrations import upgrade
from serving.promote import PromoteReport, promote
from serving.storage import PhotoStore
from tests.serving.helpers import jpeg

OLD_VERSION = "old-model"
DAY0 = datetime(2026, 1, 1, tzinfo=UTC)
PROMOTED, STOPPED = "scores_promoted", "scores_promotion_stopped"  # a promotion's audit actions


@dataclass
class StoredPhotos:
    url: str
    store: PhotoStore
    ids: list[int]
    created: dict[int, datetime]


def populate(
    url: str, store_root: Path, n: int, *, seed: int = 0, bad: dict[int, bytes] | None = None
) -> StoredPhotos:
    """n photos of one family, uploaded a day apart from DAY0, each scored by OLD_VERSION.

    `bad` maps a photo's index to bytes stored in place of a good photo (corrupt data), or to
    b"" to leave its file out of the store.
    """
    upgrade(url)
    store = PhotoStore(store_root)
    store.prepare()
    engine = make_engine(url)
    ids, created = [], {}
    with session_scope(make_session_factory(engine)) as session:
        user = User(username="admin", password_hash="x", role="admin", region=None)
        session.add(user)
        session.flush()
        session.add(
            Family(
                id="F1", region="astana", settlement="urban", head_gender="female", record={},
                created_by=user.id,
            )
        )  # fmt: skip
        session.flush()
        for i in range(n):
            data = (bad or {}).get(i, jpeg(seed + i, size=(96, 72)))
            sha256 = hashlib.sha256(data or f"missing-{i}".encode()).hexdigest()
            if data:
                store.put(data)
            when = DAY0 + timedelta(days=i)
            photo = Photo(
                family_id="F1", sha256=sha256, format="jpeg", width=96, height=72,
                size_bytes=len(data), quality={"status": "pass", "reasons": []},
                score={"model_version": OLD_VERSION, "marker": i}, model_version=OLD_VERSION,
                uploaded_by=user.id, created_at=when,
            )  # fmt: skip
            session.add(photo)
            session.flush()
            ids.append(photo.id)
            created[photo.id] = when
    engine.dispose()
    return StoredPhotos(url=url, store=store, ids=ids, created=created)


def cli_config(tmp_path: Path, n: int, *, model_dir: Path | None = None) -> Path:
    """A serving.yaml for the CLI over a SQLite database of n `populate`d photos."""
    data_dir = tmp_path / "data"
    url = f"sqlite:///{data_dir / 'shanyraq.db'}"
    populate(url, data_dir / "photos", n)
    config = tmp_path / "serving.yaml"
    config.write_text(
        f"data_dir: {data_dir}\ndatabase_url: {url}\nmodel_dir: {model_dir or ''}\n"
        "secret_key: test-secret-key-0123456789abcdef-0123\n"
    )
    return config


_MODELS: dict[int, Path] = {}


def tiny_model(root: Path, *, seed: int = 0) -> Path:
    """The tiny exported test model (model version "test-<seed>"), built once per process."""
    if seed not in _MODELS:
        from shanyraq.taxonomy import get_taxonomy
        from tests.vision.engine_fixtures import make_artifact

        _MODELS[seed] = make_artifact(root / f"model-{seed}", get_taxonomy(), seed=seed)
    return _MODELS[seed]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(old, new): the photo model the photos were scored with at upload, and the one to
    promote."""
    root = tmp_path_factory.mktemp("models")
    return tiny_model(root, seed=1), tiny_model(root, seed=0)


def cpu_scorer(model: Path, *, max_pixels: int = 50_000_000) -> Any:
    """The model's scorer on the CPU, decoding photos to a short side of 1024 px."""
    from vision.bulk import open_scorer

    return open_scorer(model, prefer="cpu", max_pixels=max_pixels, decode_short_side=1024)


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], None]]:
    """Sets io.max_pixels and io.stored_max_pixels as an administrator does (env overrides);
    the Ray driver derives the limit every actor reads under from them."""
    from shanyraq.config import get_settings

    def set_limits(max_pixels: int) -> None:
        for name in ("MAX_PIXELS", "STORED_MAX_PIXELS"):
            monkeypatch.setenv(f"SHANYRAQ_IO__{name}", str(max_pixels))
        get_settings.cache_clear()

    yield set_limits
    get_settings.cache_clear()  # monkeypatch (torn down after this) restores the env


@pytest.fixture
def lower_pixel_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], None]]:
    """Sets io.max_pixels (only) through its env override, as an administrator lowering it
    would; io.stored_max_pixels, which reads of stored photos go by, stays as configured."""
    from shanyraq.config import get_settings

    def set_limit(limit: int) -> None:
        monkeypatch.setenv("SHANYRAQ_IO__MAX_PIXELS", str(limit))
        get_settings.cache_clear()

    yield set_limit
    get_settings.cache_clear()  # monkeypatch (torn down after this) restores the env


def file_and_assess(service: Any, families: tuple[str, ...]) -> None:
    """Each family filed with two photos and assessed (as a commission member)."""
    for n, family in enumerate(families):
        service.create_family(family)
        for k in range(2):
            assert service.upload(family, jpeg(10 * n + k)).status_code == 201
        service.assess(family)


def filed_and_rescored(make_service: Any, models: tuple[Path, Path]) -> Any:
    """A service on the old model of `models` with F1 and F2 (two photos each, ids 1-4) filed
    and assessed, all re-scored under the new one by run 1, not promoted yet (the service is
    not restarted onto it)."""
    from serving.rescore import rescore

    old, new = models
    service = make_service(model_dir=old)
    file_and_assess(service, ("F1", "F2"))
    services = service.services
    assert rescore(services.db_engine, services.store, cpu_scorer(new), progress=False).complete
    return service


def promote_by_cli(services: Any, model: Path, **options: Any) -> PromoteReport:
    """`model` promoted on the service's database as the command line does (actor "cli"), the
    service's serving.yaml naming it; `options` go to serving.promote.promote."""
    return promote(
        services.sessions, services.signing_key, model_dir=model, serving_model_dir=model,
        actor="cli", **options,
    )  # fmt: skip


def promotion_entries(sessions: Any) -> list[tuple[str, dict[str, Any]]]:
    """The promotions' audit entries (PROMOTED or STOPPED) as (action, details), oldest first."""
    with sessions() as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.details)
            .where(AuditEntry.action.in_((PROMOTED, STOPPED)))
            .order_by(AuditEntry.seq)
        )
        return [(action, details) for action, details in rows]


def rescored_entries(url: str) -> list[dict[str, Any]]:
    """The details of the re-scoring runs' audit entries (`photos_rescored`) in the database at
    `url`, oldest first."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(
                select(AuditEntry.details)
                .where(AuditEntry.action == "photos_rescored")
                .order_by(AuditEntry.seq)
            ).scalars()
            return list(rows)
    finally:
        engine.dispose()


def stop_after_first_batch(done: int) -> None:
    """An `on_batch` of promote or rescore: Ctrl-C once the first batch is committed."""
    raise KeyboardInterrupt


class CountingScorer:
    """Wraps a scorer and records which photos it was asked to score; `name` renames its
    path (the same scores reported as, say, the GPU path's)."""

    def __init__(self, inner: Any, *, name: str | None = None) -> None:
        self.inner, self.model_version = inner, inner.model_version
        self.name: str = name or inner.name
        # Part of a run's provenance (serving.rescore_runs.RunProvenance.of): the inner one's.
        self.decode_short_side = getattr(inner, "decode_short_side", None)
        self.seen: list[int] = []

    def prepare(self, batch: list[Any]) -> Any:
        self.seen += [item.key for item in batch]
        return self.inner.prepare(batch)

    def infer(self, prepared: Any) -> Any:
        return self.inner.infer(prepared)


def listen_on_reads(monkeypatch: Any, on_execute: Any) -> None:
    """`on_execute` (a before_cursor_execute listener) on the read engines a re-scoring run
    makes too (serving.rescore_reads: its listings and report read there on SQLite)."""
    from sqlalchemy import event

    import serving.rescore_reads

    make_read_engine = serving.rescore_reads.make_read_engine

    def read_engine(write: Any) -> Any:
        reads = make_read_engine(write)
        if reads is not write:
            event.listen(reads, "before_cursor_execute", on_execute)
        return reads

    monkeypatch.setattr(serving.rescore_reads, "make_read_engine", read_engine)
