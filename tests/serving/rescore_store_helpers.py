"""Helpers of the rescore store-damage tests: a service of stored photos and its config, the
rescore command run on it, each photo's outcome and the stored originals' hashes, an original
lost from the store, a photo uploaded under the old model, the runs and outcomes a database
holds, and fixtures (registered in tests/conftest.py): the code version the runs record,
fixed, and the tiny model's scorer."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving.db.models import Photo, RescoredScore, RescoreRun
from serving.db.session import make_engine, make_session_factory, session_scope
from tests.serving.cli_helpers import run_cli
from tests.serving.helpers import jpeg
from tests.serving.rescore_fixtures import DAY0, OLD_VERSION, StoredPhotos, populate
from tests.serving.rescore_helpers import new_code
from vision.bulk import open_scorer

KEY = "store-damage-key-0123456789abcdef-0123456"


def stored_service(tmp_path: Path, n: int) -> tuple[Path, StoredPhotos]:
    data = tmp_path / "data"
    stored = populate(f"sqlite:///{data / 'shanyraq.db'}", data / "photos", n)
    config = tmp_path / "serving.yaml"
    config.write_text(f"data_dir: {data}\ndatabase_url: ''\nsecret_key: {KEY}\n")
    return config, stored


def rescore_stored(model: Path, config: Path, *extra: str) -> Any:
    return run_cli("rescore", "--model", model, "--device", "cpu", "--no-progress",
                   "--batch-size", "2", "--config", config, *extra)  # fmt: skip


def photo_outcomes(url: str) -> dict[int, tuple[bool, str | None]]:
    """Each photo's outcome under any model: (has a score, its recorded reason)."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(select(RescoredScore)).scalars().all()
            return {row.photo_id: (row.score is not None, row.error) for row in rows}
    finally:
        engine.dispose()


def stored_hashes(stored: StoredPhotos) -> list[str]:
    from serving.db.models import Photo

    engine = make_engine(stored.url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(select(Photo.id, Photo.sha256).order_by(Photo.id)).all()
    finally:
        engine.dispose()
    return [sha256 for _, sha256 in rows]


def lose_original(stored: StoredPhotos, photo_id: int) -> None:
    """The photo's original gone from the store."""
    engine = make_engine(stored.url)
    with make_session_factory(engine)() as session:
        sha256 = session.get_one(Photo, photo_id).sha256
    engine.dispose()
    stored.store.path_for(sha256).unlink()


def upload_on_old_model(engine: Any, stored: StoredPhotos, *, day: int, seed: int) -> int:
    """One more photo of F1, uploaded on DAY0 + `day` while the service still scored with the
    old model (as `populate` files them); its id."""
    data = jpeg(1000 + seed, size=(96, 72))
    stored.store.put(data)
    with session_scope(make_session_factory(engine)) as session:
        photo = Photo(
            family_id="F1", sha256=hashlib.sha256(data).hexdigest(), format="jpeg", width=96,
            height=72, size_bytes=len(data), quality={"status": "pass", "reasons": []},
            score={"model_version": OLD_VERSION}, model_version=OLD_VERSION, uploaded_by=1,
            created_at=DAY0 + timedelta(days=day),
        )  # fmt: skip
        session.add(photo)
        session.flush()
        return photo.id


LOST = 1  # the index of the photo whose original the store loses (uploaded 2026-01-02)


LOST_DAY = datetime(2026, 1, 2, tzinfo=UTC)


def runs_and_outcomes(engine: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every run (id, status, last photo, scored, failed) and outcome (photo, run, reason)."""
    with make_session_factory(engine)() as session:
        runs = session.execute(
            select(RescoreRun.id, RescoreRun.status, RescoreRun.last_photo_id,
                   RescoreRun.scored, RescoreRun.failed).order_by(RescoreRun.id)
        )  # fmt: skip
        outcomes = session.execute(
            select(RescoredScore.photo_id, RescoredScore.run_id, RescoredScore.error).order_by(
                RescoredScore.photo_id
            )
        )
        return [tuple(r) for r in runs], [tuple(o) for o in outcomes]


@pytest.fixture
def one_code_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """The code version the runs record, fixed: others may edit the checkout meanwhile (a
    module whose every test needs it says so: pytestmark = usefixtures("one_code_version"))."""
    new_code(monkeypatch, "0.1.0+aaaaaaaaaaaa")


@pytest.fixture(scope="module")
def scorer(model: Path) -> Any:
    return open_scorer(model, prefer="cpu", max_pixels=50_000_000, decode_short_side=1024)
