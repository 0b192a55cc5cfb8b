"""`shanyraq rescore` and the photo store: originals missing from it or changed in it are named
as damage to the store (not as a bad upload), end the command with `photo_store_damaged`, and
are scored once restored; a second re-scoring of one model version is refused before it scores
anything (`rescore_busy`), and the database's own guard behind that lock is a clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from serving.db.models import AuditEntry, RescoredScore, RescoreRun
from serving.db.session import make_engine, make_session_factory, session_scope
from shanyraq.cli import build_app
from shanyraq.errors import ShanyraqError
from tests.serving.rescore_fixtures import StoredPhotos, populate, tiny_model
from vision.bulk import open_scorer

KEY = "store-damage-key-0123456789abcdef-0123456"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("models"))


def _run(*args: str | Path) -> Any:
    return CliRunner().invoke(build_app(), [str(arg) for arg in args])


def _code(result: Any) -> str | None:
    return result.exception.code if isinstance(result.exception, ShanyraqError) else None


def _service(tmp_path: Path, n: int) -> tuple[Path, StoredPhotos]:
    data = tmp_path / "data"
    stored = populate(f"sqlite:///{data / 'shanyraq.db'}", data / "photos", n)
    config = tmp_path / "serving.yaml"
    config.write_text(f"data_dir: {data}\ndatabase_url: ''\nsecret_key: {KEY}\n")
    return config, stored


def _rescore(model: Path, config: Path, *extra: str) -> Any:
    return _run("rescore", "--model", model, "--device", "cpu", "--no-progress",
                "--batch-size", "2", "--config", config, *extra)  # fmt: skip


def _outcomes(url: str) -> dict[int, tuple[bool, str | None]]:
    """Each photo's outcome under any model: (has a score, its recorded reason)."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(select(RescoredScore)).scalars().all()
            return {row.photo_id: (row.score is not None, row.error) for row in rows}
    finally:
        engine.dispose()


def test_originals_missing_or_changed_in_the_store_are_named_and_fail_the_run(tmp_path, model):
    config, stored = _service(tmp_path, 6)
    gone, changed = stored.ids[1], stored.ids[4]
    sha = dict(zip(stored.ids, _hashes(stored), strict=True))
    kept = {i: stored.store.path_for(sha[i]).read_bytes() for i in (gone, changed)}
    stored.store.path_for(sha[gone]).unlink()
    stored.store.path_for(sha[changed]).write_text("garbage\n")

    result = _rescore(model, config)
    assert _code(result) == "photo_store_damaged", result.output
    message = str(result.exception)
    assert f"photos {gone}, {changed}" in message and "2 original(s)" in message
    assert "Restore those files from a backup" in message
    assert "complete but for 2 photo(s) the store could not give" in result.output
    assert "send a JPEG" not in result.output  # an upload's wording, not the store's
    outcomes = _outcomes(stored.url)
    assert outcomes[gone] == (False, "the photo file is missing from the store")
    assert outcomes[changed][0] is False and "content hash" in str(outcomes[changed][1])
    assert sum(ok for ok, _ in outcomes.values()) == 4

    again = _rescore(model, config)  # still damaged: still said, nothing else re-scored
    assert _code(again) == "photo_store_damaged" and "this session: 0 photo(s)" in again.output

    for photo_id, data in kept.items():  # restored from a backup
        stored.store.path_for(sha[photo_id]).write_bytes(data)
    restored = _rescore(model, config)
    assert restored.exit_code == 0, restored.output
    assert "2 restored photo(s) scored again" in restored.output and ": complete" in restored.output
    assert all(ok for ok, _ in _outcomes(stored.url).values())
    verified = _run("audit", "verify", "--config", config)
    assert verified.exit_code == 0, verified.output


def _hashes(stored: StoredPhotos) -> list[str]:
    from serving.db.models import Photo

    engine = make_engine(stored.url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(select(Photo.id, Photo.sha256).order_by(Photo.id)).all()
    finally:
        engine.dispose()
    return [sha256 for _, sha256 in rows]


def test_a_second_rescore_of_the_model_is_refused_before_it_scores(tmp_path, model):
    from serving.rescore_lock import rescore_lock

    config, stored = _service(tmp_path, 3)
    engine = make_engine(stored.url)
    with session_scope(make_session_factory(engine)) as session:  # the other one's run
        session.add(RescoreRun(model_version="test-0", since_key=""))
    with rescore_lock(tmp_path / "data", "test-0"):  # held by "another process"
        busy = _rescore(model, config)
    assert _code(busy) == "rescore_busy", busy.output
    message = str(busy.exception)
    assert "another re-scoring under test-0 is running" in message and "run 1" in message
    assert "Traceback" not in busy.output
    assert _outcomes(stored.url) == {}  # nothing scored twice, nothing at all
    with make_session_factory(engine)() as session:
        actions = session.execute(select(AuditEntry.action)).scalars().all()
    assert "photos_rescored" not in actions
    engine.dispose()

    done = _rescore(model, config)  # once it is released
    assert done.exit_code == 0, done.output
    assert not list((tmp_path / "data").glob(".rescore-*.lock"))


def test_a_run_advanced_by_another_process_stops_with_a_clear_error(tmp_path, model):
    """Behind the lock (another machine on one PostgreSQL database): the compare-and-set of
    the run's cursor fails, and the loser stops with a domain error, not a RuntimeError."""
    from serving.rescore import rescore

    _, stored = _service(tmp_path, 6)
    engine = make_engine(stored.url)
    other = make_engine(stored.url)
    scorer = open_scorer(model, prefer="cpu", max_pixels=50_000_000, decode_short_side=1024)

    def advanced_elsewhere(_done: int) -> None:
        moved = update(RescoreRun).values(last_photo_id=RescoreRun.last_photo_id + 1)
        with other.begin() as connection:
            connection.execute(moved)

    try:
        with pytest.raises(ShanyraqError) as stopped:
            rescore(engine, stored.store, scorer, batch_size=2, progress=False,
                    on_batch=advanced_elsewhere)  # fmt: skip
    finally:
        engine.dispose()
        other.dispose()
    assert stopped.value.code == "rescore_busy"
    assert "run one re-scoring per model version at a time" in stopped.value.message
