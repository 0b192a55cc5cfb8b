"""Helpers of the re-scoring tests: a service database with stored photos, and a tiny model."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from serving.db.models import Family, Photo, User
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.migrations import upgrade
from serving.storage import PhotoStore
from tests.serving.helpers import jpeg

OLD_VERSION = "old-model"
DAY0 = datetime(2026, 1, 1, tzinfo=UTC)


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
