"""Review 22 of re-scoring's reads (serving/rescore_reads.py): the listings of a run, the pages
of photos to score and the store-damage outcomes to check for restored files, read in deferred
transactions. On SQLite the writing engine begins BEGIN IMMEDIATE, so each listing took the
database's write lock and an upload arriving meanwhile waited; one holding it made the listing
wait and then fail, "database is locked". One read engine serves the run, disposed at its end.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

import serving.rescore
import serving.rescore_reads
from serving.db.models import RescoreRun
from serving.db.session import make_engine, make_session_factory
from serving.rescore import rescore
from serving.rescore_photos import retry_restored
from serving.rescore_provenance import RunProvenance
from serving.rescore_reads import read_sessions
from tests.serving.rescore_fixtures import populate
from tests.serving.rescore_store_helpers import stored_hashes
from vision.bulk import open_scorer

BUSY_MS = 200  # how long a connection waits for the write lock here (the service's: 30 s)


def _short_wait(engine: Engine) -> Engine:
    """`engine`, whose connections wait BUSY_MS for a lock: a test fails fast, not after 30 s."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA busy_timeout={BUSY_MS}")

    return engine


@pytest.fixture
def read_engines(monkeypatch: pytest.MonkeyPatch) -> list[Engine]:
    """The read engines the re-scoring makes, each waiting BUSY_MS at most."""
    made: list[Engine] = []
    make_read_engine = serving.rescore_reads.make_read_engine

    def making(write: Engine) -> Engine:
        reads = make_read_engine(write)
        made.append(reads)
        return _short_wait(reads) if reads is not write else reads

    monkeypatch.setattr(serving.rescore_reads, "make_read_engine", making)
    return made


@pytest.fixture
def scorer(model: Path) -> Any:
    return open_scorer(model, prefer="cpu", max_pixels=50_000_000)


def _other_writer(db: Path) -> sqlite3.Connection:
    """Another connection to `db`, as the service's upload has (usable from any thread)."""
    return sqlite3.connect(db, isolation_level=None, timeout=5, check_same_thread=False)


def test_retry_restored_lists_without_the_write_lock(
    tmp_path: Path, scorer: Any, read_engines: list[Engine]
) -> None:
    """Another writer (the service filing an upload) holds SQLite's write lock while the run
    lists its store damage. Before: the listing began BEGIN IMMEDIATE, waited for the lock
    and failed, "database is locked"; now it reads, and discards once the file is back."""
    db = tmp_path / "shanyraq.db"
    stored = populate(f"sqlite:///{db}", tmp_path / "photos", 3)
    file = stored.store.path_for(stored_hashes(stored)[1])
    kept = file.read_bytes()
    file.unlink()  # missing from the store
    engine = _short_wait(make_engine(stored.url))
    try:
        report = rescore(engine, stored.store, scorer, progress=False)
        assert report.store_damaged == 1
        sessions = make_session_factory(engine)
        with sessions() as session:
            run = session.execute(select(RescoreRun)).scalar_one()
        provenance = RunProvenance.recorded(run)
        other = _other_writer(db)
        try:
            other.execute("BEGIN IMMEDIATE")  # the other writer's transaction
            assert retry_restored(sessions, run, stored.store, provenance, None) == 0
        finally:
            other.execute("ROLLBACK")
            other.close()
        file.write_bytes(kept)  # restored from a backup
        assert retry_restored(sessions, run, stored.store, provenance, None) == 1
    finally:
        engine.dispose()


def test_rescore_lists_its_pages_without_the_write_lock(
    tmp_path: Path, scorer: Any, monkeypatch: pytest.MonkeyPatch, read_engines: list[Engine]
) -> None:
    """Another writer holds the write lock while the run lists its first page of photos (no
    write of the run is under way then: the run waits for that page). Before: the listing
    failed, "database is locked"; now the run lists, then scores and writes every photo."""
    db = tmp_path / "shanyraq.db"
    stored = populate(f"sqlite:///{db}", tmp_path / "photos", 5)
    engine = _short_wait(make_engine(stored.url))
    other = _other_writer(db)
    listed: list[int] = []
    real_pages = serving.rescore.pages

    def pages(*args: Any, **kwargs: Any) -> Iterator[Any]:
        walked = real_pages(*args, **kwargs)
        if not listed:  # the run's first page, listed while the other writer holds the lock
            other.execute("BEGIN IMMEDIATE")
            try:
                first = next(walked, None)
            finally:
                other.execute("ROLLBACK")
            assert first is not None
            listed.append(len(first.items))
            yield first
        yield from walked

    monkeypatch.setattr(serving.rescore, "pages", pages)
    try:
        report = rescore(engine, stored.store, scorer, batch_size=2, progress=False)
    finally:
        other.close()
        engine.dispose()
    assert listed == [2]
    assert report.complete and report.scored == 5 and report.this_session == 5


def test_one_read_engine_serves_the_run_and_is_disposed(
    tmp_path: Path, scorer: Any, monkeypatch: pytest.MonkeyPatch, read_engines: list[Engine]
) -> None:
    """Every page (five here) and the store-damage check read on one engine, not one each;
    its connections are closed when the run ends."""
    stored = populate(f"sqlite:///{tmp_path / 'shanyraq.db'}", tmp_path / "photos", 5)
    engine = make_engine(stored.url)
    opened: list[Any] = []
    closed: list[Any] = []
    make = serving.rescore_reads.make_read_engine

    def making(write: Engine) -> Engine:
        reads = make(write)
        event.listen(reads, "connect", lambda conn, _record: opened.append(conn))
        event.listen(reads, "close", lambda conn, _record: closed.append(conn))
        return reads

    monkeypatch.setattr(serving.rescore_reads, "make_read_engine", making)
    try:
        report = rescore(engine, stored.store, scorer, batch_size=1, progress=False)
    finally:
        engine.dispose()
    assert report.complete and report.this_session == 5
    assert len(read_engines) == 1 and read_engines[0] is not engine
    assert opened and sorted(map(id, closed)) == sorted(map(id, opened))


def test_where_reads_go_to_the_engine_itself_it_is_not_disposed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL (make_read_engine gives the engine itself): the listings read on it, as
    before, and leaving does not dispose the caller's engine."""
    engine = make_engine(f"sqlite:///{tmp_path / 'shanyraq.db'}")
    monkeypatch.setattr(serving.rescore_reads, "make_read_engine", lambda write: write)
    sessions = make_session_factory(engine)
    pool = engine.pool
    try:
        with read_sessions(sessions) as reads, reads() as session:
            assert session.get_bind() is engine
            assert session.scalar(select(1)) == 1
        assert engine.pool is pool  # dispose() replaces the pool
    finally:
        engine.dispose()


def test_the_ray_driver_plans_its_pages_without_the_write_lock(
    tmp_path: Path, model: Path, read_engines: list[Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Ray driver's page plan (`read_pages`, one query a page) ran in a write transaction:
    the write lock held for the whole listing, or the listing failing behind another writer."""
    import serving.rescore_ray as rescore_ray

    data = tmp_path / "data"
    stored = populate(f"sqlite:///{data / 'shanyraq.db'}", data / "photos", 2)
    monkeypatch.setattr(rescore_ray, "_score", lambda *a, **kw: None)  # no Ray: the plan only
    real, planned = rescore_ray.read_pages, []

    def behind_a_writer(session: Any, *args: Any, **kwargs: Any) -> list[tuple[int, int]]:
        other = _other_writer(data / "shanyraq.db")
        other.execute("BEGIN IMMEDIATE")  # the service filing an upload meanwhile
        try:
            planned.extend(real(session, *args, **kwargs))
            return planned
        finally:
            other.execute("ROLLBACK")
            other.close()

    monkeypatch.setattr(rescore_ray, "read_pages", behind_a_writer)
    rescore_ray.rescore_with_ray(
        stored.url, data / "photos", model, model_version="test-0", prefer="cpu",
        max_pixels=50_000_000, data_dir=data,
    )  # fmt: skip
    assert planned and read_engines


def test_the_runs_report_is_counted_without_the_write_lock(
    tmp_path: Path, scorer: Any, monkeypatch: pytest.MonkeyPatch, read_engines: list[Engine]
) -> None:
    """The report's counts (every photo in scope, the outcomes) were read in a write
    transaction at the run's end: behind another writer they failed, "database is locked",
    after the run had scored everything. Now they are one read snapshot."""
    db = tmp_path / "shanyraq.db"
    stored = populate(f"sqlite:///{db}", tmp_path / "photos", 3)
    engine = _short_wait(make_engine(stored.url))
    other = _other_writer(db)
    real_report = serving.rescore._report

    def behind_a_writer(*args: Any, **kwargs: Any) -> Any:
        other.execute("BEGIN IMMEDIATE")  # the service filing an upload meanwhile
        try:
            return real_report(*args, **kwargs)
        finally:
            other.execute("ROLLBACK")

    monkeypatch.setattr(serving.rescore, "_report", behind_a_writer)
    try:
        report = rescore(engine, stored.store, scorer, batch_size=2, progress=False)
    finally:
        other.close()
        engine.dispose()
    assert report.complete and report.scored == 3 and report.in_scope == 3
