"""Helpers of the rescore promotion tests: the Ray pipeline called as its words name it, the
model versions a database's scores carry, a run promoted halfway, and a promotion run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving.db.models import Photo
from serving.db.session import make_engine, make_session_factory
from serving.promote import promote
from serving.rescore import rescore
from serving.rescore_ray import rescore_with_ray
from tests.serving.rescore_fixtures import cpu_scorer, populate, tiny_model
from tests.serving.rescore_helpers import (
    OLD_CODE,
    RAISED,
    VERSION,
    new_code,
    promotion_stopped_after_one,
)
from tests.serving.rescore_store_helpers import LOST

KEY = b"test-secret-key-0123456789abcdef"


PROMOTE = "`shanyraq rescore promote --model DIR`"


def ray_rescore(url: str, store_root: Path, model: Path, **kwargs: Any) -> Any:
    return rescore_with_ray(
        url, store_root, model, model_version=VERSION, prefer="cpu",
        **{"max_pixels": RAISED, **kwargs},
    )  # fmt: skip


def scored_versions(url: str) -> set[str | None]:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return set(session.execute(select(Photo.model_version)).scalars())
    finally:
        engine.dispose()


def half_promoted(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Any, Path, bytes]:
    """3 photos re-scored under the old code, the second one's original lost from the store;
    the promotion stopped after adopting photo 1, photo 3 left to adopt. (engine, stored
    photos, model, the lost original's bytes to restore)."""
    new_code(monkeypatch, OLD_CODE)
    model = tiny_model(tmp_path / "models")
    stored = populate(database_url, tmp_path / "photos", 3)
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        path = stored.store.path_for(session.get_one(Photo, stored.ids[LOST]).sha256)
    kept = path.read_bytes()
    path.unlink()
    first = rescore(engine, stored.store, cpu_scorer(model), progress=False)
    assert (first.scored, first.failed, first.store_damaged) == (2, 1, 1)
    promotion_stopped_after_one(make_session_factory(engine), KEY, model, actor="t")
    return engine, stored, model, kept


def promote_run(engine: Any, model: Path) -> int:
    sessions = make_session_factory(engine)
    return promote(sessions, KEY, model_dir=model, serving_model_dir=model, actor="t").updated
