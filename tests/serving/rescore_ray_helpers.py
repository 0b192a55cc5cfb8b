"""Helpers of the Ray rescore tests: a Ray run carried to its end, a fake Ray, the pipeline run
on it and its outcomes, and a scoring actor's arguments and a batch of stored photos for it."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from serving.db.models import RescoredScore, RescoreRun
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.rescore_photos import MISSING_FILE
from serving.rescore_ray import WRITE_COLUMNS, expected_provenance, rescore_with_ray
from serving.storage import PhotoStore
from tests.serving.helpers import jpeg
from tests.serving.rescore_helpers import MAX_PIXELS, VERSION, stopped_ray_run


def finished_ray_run(url: str, model: Path, scored: list[int], missing: list[int]) -> int:
    """A finished Ray run: a score for each of `scored`, MISSING_FILE for each of `missing`."""
    run_id = stopped_ray_run(url, model, scored, done=True)
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        session.add_all(
            RescoredScore(photo_id=i, model_version=VERSION, run_id=run_id, error=MISSING_FILE)
            for i in missing
        )
        session.get_one(RescoreRun, run_id).failed = len(missing)
    engine.dispose()
    return run_id


@dataclass
class Stage:
    name: str  # the function or class of map_batches, or "write"
    remote: dict[str, Any]  # the resources it asked for
    blocks: list[int] = field(default_factory=list)  # rows of each block it put out


class FakeRay:
    def __init__(self, *, cpus: float = 4, gpus: float = 0, actor_per_block: bool = False):
        self.resources = {"CPU": float(cpus)} | ({"GPU": float(gpus)} if gpus else {})
        self.actor_per_block = actor_per_block
        self.stages: list[Stage] = []
        self.data = SimpleNamespace(
            from_items=lambda items: FakeDataset(self, [[item] for item in items]),
            ActorPoolStrategy=lambda size: ("actors", size),
        )

    def is_initialized(self) -> bool:
        return True

    def cluster_resources(self) -> dict[str, float]:
        return dict(self.resources)

    def stage(self, name: str) -> Stage:
        [found] = [stage for stage in self.stages if stage.name == name]
        return found


def fake_batch(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows as Ray Data's default batch format: a numpy array per column."""
    return {key: np.array([row[key] for row in rows], dtype=object) for key in rows[0]}


class FakeDataset:
    def __init__(self, ray: FakeRay, blocks: list[list[dict[str, Any]]]) -> None:
        self.ray, self.blocks = ray, blocks

    def map_batches(
        self,
        fn: Any,
        *,
        batch_size: int,
        compute: Any = None,
        fn_kwargs: dict[str, Any] | None = None,
        fn_constructor_kwargs: dict[str, Any] | None = None,
        **remote: Any,
    ) -> FakeDataset:
        stage = Stage(fn.__name__, remote)
        self.ray.stages.append(stage)
        actor, out = None, []
        for block in self.blocks:
            if isinstance(fn, type) and (actor is None or self.ray.actor_per_block):
                actor = fn(**(fn_constructor_kwargs or {}))
            call = actor or functools.partial(fn, **(fn_kwargs or {}))
            for start in range(0, len(block), batch_size):
                result = call(fake_batch(block[start : start + batch_size]))
                columns = result.to_pydict() if hasattr(result, "to_pydict") else result
                rows = [
                    dict(zip(columns, values, strict=True))
                    for values in zip(*columns.values(), strict=True)
                ]
                stage.blocks.append(len(rows))
                out += [rows] if rows else []
        return FakeDataset(self.ray, out)

    def write_sql(self, sql: str, factory: Any, ray_remote_args: Any = None) -> None:
        self.ray.stages.append(Stage("write", ray_remote_args or {}))
        connection = factory()
        try:
            rows = [tuple(row[c] for c in WRITE_COLUMNS) for block in self.blocks for row in block]
            connection.cursor().executemany(sql, rows)
            connection.commit()
        finally:
            connection.close()


def ray_pipeline(monkeypatch: pytest.MonkeyPatch, ray: FakeRay, *args: Any, **kwargs: Any) -> Any:
    monkeypatch.setattr("serving.rescore_ray._ray", lambda: ray)
    return rescore_with_ray(*args, model_version=VERSION, max_pixels=MAX_PIXELS, **kwargs)


def ray_outcomes(url: str) -> dict[int, str | None]:
    """Each photo's outcome under the version: its reason (None: a score)."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(
                select(RescoredScore.photo_id, RescoredScore.error).where(
                    RescoredScore.model_version == VERSION
                )
            ).all()
            return {photo_id: error for photo_id, error in rows}
    finally:
        engine.dispose()


def actor_kwargs(tmp_path: Path, model: Path, prefer: str) -> dict[str, Any]:
    recorded = expected_provenance(
        model, prefer=prefer, num_gpus_per_actor=0, decode_short_side=None
    )
    return {
        "model_dir": str(model), "store_root": str(tmp_path / "photos"), "run_id": 7,
        "db_url": f"sqlite:///{tmp_path / 'db.sqlite'}", "prefer": prefer,
        "max_pixels": MAX_PIXELS, "decode_short_side": None, "provenance": recorded,
    }  # fmt: skip


def stored_batch(tmp_path: Path, n: int) -> dict[str, list[Any]]:
    """A batch of n rows as the pipeline reads them (photo id, sha256, quality as JSON text),
    their originals in the store."""
    store = PhotoStore(tmp_path / "photos")
    store.prepare()
    shas = [store.put(jpeg(i, size=(96, 72))).sha256 for i in range(n)]
    return {
        "photo_id": [10 + i for i in range(n)],
        "sha256": shas,
        "quality": ['{"status": "pass", "reasons": []}'] * n,
    }
