"""Opening a re-scoring run, review 20.

1. The originals recorded as damage to the store are read and hashed again (are they restored?)
   with no transaction open: the check used to run inside the transaction that opens the run,
   which on SQLite holds the write lock, so uploads waited (and failed after the 30 s busy
   timeout) for as long as the check took.
2. A run re-checks, and its report counts, the store-damage outcomes of the photos in its scope
   under its model version whichever run recorded them: a `--since` run (or a Ray run) whose
   scope held a photo an earlier run recorded as missing skipped it, never scored it once
   restored, and said "complete" without naming it.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import serving.rescore_photos
from serving.db.models import Photo, RescoredScore, RescoreRun
from serving.db.session import make_engine, make_session_factory
from serving.rescore import MISSING_FILE, rescore
from tests.serving.cli_helpers import error_code
from tests.serving.rescore_fixtures import DAY0, StoredPhotos, populate
from tests.serving.rescore_ray_helpers import FakeRay, ray_pipeline
from tests.serving.rescore_store_helpers import rescore_stored, stored_service

# The code version the runs record, fixed (the CPU scorer of that model is the registered
# `scorer` of tests/serving/rescore_store_helpers.py).
pytestmark = pytest.mark.usefixtures("one_code_version")

LOST = (0, 3, 4)  # indexes of the photos whose originals the store loses
SINCE = DAY0 + timedelta(days=2)  # a --since whose scope holds photos 2.. (3 and 4 lost)


def _lose(stored: StoredPhotos) -> dict[int, bytes]:
    """The originals of LOST gone from the store: their bytes by photo id, to restore them."""
    engine = make_engine(stored.url)
    with make_session_factory(engine)() as session:
        sha = {i: h for i, h in session.execute(select(Photo.id, Photo.sha256))}
    engine.dispose()
    lost = {}
    for i in LOST:
        path = stored.store.path_for(sha[stored.ids[i]])
        lost[stored.ids[i]] = path.read_bytes()
        path.unlink()
    return lost


def _restore(stored: StoredPhotos, lost: dict[int, bytes], *photo_ids: int) -> None:
    for photo_id in photo_ids:
        stored.store.put(lost[photo_id])  # from a backup


def _outcomes(url: str) -> dict[int, str | None]:
    """Each photo's outcome: its recorded reason (None: a score)."""
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        rows = session.execute(select(RescoredScore.photo_id, RescoredScore.error))
        outcomes = {photo_id: error for photo_id, error in rows}
    engine.dispose()
    return outcomes


def _failed(url: str, run_id: int) -> int:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        failed = session.get_one(RescoreRun, run_id).failed
    engine.dispose()
    return failed


def _writes_while_checking(monkeypatch: pytest.MonkeyPatch, file: Path) -> list[str]:
    """Each original read (read_original) first tries to take the database's write lock from
    another connection, as an upload does, waiting at most 50 ms: "ok" or SQLite's error."""
    tried: list[str] = []
    read_original = serving.rescore_photos.read_original

    def reading(store: Any, sha256: str) -> bytes | str:
        upload = sqlite3.connect(file, timeout=0.05, isolation_level=None)
        try:
            upload.execute("BEGIN IMMEDIATE")
            upload.execute("ROLLBACK")
            tried.append("ok")
        except sqlite3.OperationalError as exc:
            tried.append(str(exc))
        finally:
            upload.close()
        return read_original(store, sha256)

    monkeypatch.setattr(serving.rescore_photos, "read_original", reading)
    return tried


# --- 1. the restored-file check holds no write lock -------------------------------------------


def test_uploads_can_write_while_rescore_checks_the_restored_originals(
    tmp_path: Path, scorer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "db.sqlite"
    stored = populate(f"sqlite:///{file}", tmp_path / "photos", 6)
    lost = _lose(stored)
    engine = make_engine(stored.url)
    first = rescore(engine, stored.store, scorer, batch_size=2, progress=False)
    assert first.complete and first.store_damaged == len(LOST)
    _restore(stored, lost, *lost)

    tried = _writes_while_checking(monkeypatch, file)
    again = rescore(engine, stored.store, scorer, batch_size=2, progress=False)
    engine.dispose()
    assert len(tried) >= len(LOST)  # each restored original checked (and then scored)
    assert set(tried) == {"ok"}, tried  # before: "database is locked" for every check
    assert again.restored == len(LOST) and again.store_damaged == 0 and again.complete
    assert again.failed == 0 and again.scored == 6
    assert set(_outcomes(stored.url).values()) == {None}


def test_uploads_can_write_while_the_ray_pipeline_checks_the_restored_originals(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "db.sqlite"
    stored = populate(f"sqlite:///{file}", tmp_path / "photos", 6)
    lost = _lose(stored)
    first = ray_pipeline(monkeypatch, FakeRay(), stored.url, tmp_path / "photos", model)
    assert first.complete and first.failed == len(LOST)
    _restore(stored, lost, *lost)

    tried = _writes_while_checking(monkeypatch, file)
    again = ray_pipeline(monkeypatch, FakeRay(), stored.url, tmp_path / "photos", model)
    assert len(tried) == len(LOST) and set(tried) == {"ok"}, tried
    assert again.restored == len(LOST) and again.complete and again.failed == 0
    assert set(_outcomes(stored.url).values()) == {None}


# --- 2. damage recorded by another run of the version -----------------------------------------


def test_a_since_run_names_and_then_scores_the_damage_another_run_recorded(
    tmp_path: Path, scorer: Any
) -> None:
    stored = populate(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "photos", 6)
    lost = _lose(stored)
    engine = make_engine(stored.url)
    every = rescore(engine, stored.store, scorer, batch_size=2, progress=False)
    assert every.store_damaged == len(LOST)
    in_scope = [stored.ids[i] for i in LOST if stored.created[stored.ids[i]] >= SINCE]
    assert in_scope and len(in_scope) < len(LOST)

    # Still lost: the --since run names those in its scope (before: "complete", none named).
    since = rescore(engine, stored.store, scorer, since=SINCE, progress=False)
    assert since.complete and since.this_session == 0
    assert (since.store_damaged, since.store_damaged_ids) == (len(in_scope), in_scope)

    # Restored: the --since run scores those in its scope (before: skipped for ever).
    _restore(stored, lost, *lost)
    again = rescore(engine, stored.store, scorer, since=SINCE, progress=False)
    assert again.restored == len(in_scope) and again.this_session == len(in_scope)
    assert again.complete and again.store_damaged == 0
    outcomes = _outcomes(stored.url)
    assert all(outcomes[i] is None for i in in_scope)
    out_of_scope = sorted(set(lost) - set(in_scope))
    assert all(outcomes[i] == MISSING_FILE for i in out_of_scope)  # not its to check
    # The run that recorded them no longer counts them as failed.
    assert _failed(stored.url, every.run_id) == len(out_of_scope)

    last = rescore(engine, stored.store, scorer, progress=False)  # and the rest, by their run
    engine.dispose()
    assert last.restored == len(out_of_scope) and last.store_damaged == 0 and last.failed == 0
    assert set(_outcomes(stored.url).values()) == {None}


def test_the_since_command_ends_with_photo_store_damaged_for_damage_in_its_scope(
    tmp_path: Path, model: Path
) -> None:
    config, stored = stored_service(tmp_path, 6)
    lost = _lose(stored)
    assert error_code(rescore_stored(model, config)) == "photo_store_damaged"
    in_scope = [stored.ids[i] for i in LOST if stored.created[stored.ids[i]] >= SINCE]

    since = rescore_stored(model, config, "--since", SINCE.date().isoformat())
    assert error_code(since) == "photo_store_damaged", since.output  # before: exit 0, "complete"
    assert f"photos {', '.join(map(str, in_scope))})" in str(since.exception)
    assert f"complete but for {len(in_scope)} photo(s)" in since.output

    _restore(stored, lost, *in_scope)
    fixed = rescore_stored(model, config, "--since", SINCE.date().isoformat())
    assert fixed.exit_code == 0, fixed.output
    assert f"{len(in_scope)} restored photo(s) scored again" in fixed.output


def test_a_ray_since_run_names_and_then_scores_the_damage_another_run_recorded(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "photos"
    stored = populate(f"sqlite:///{tmp_path / 'db.sqlite'}", root, 6)
    lost = _lose(stored)
    every = ray_pipeline(monkeypatch, FakeRay(), stored.url, root, model)
    assert every.store_damaged == len(LOST) and every.failed == len(LOST)
    in_scope = [stored.ids[i] for i in LOST if stored.created[stored.ids[i]] >= SINCE]

    since = ray_pipeline(monkeypatch, FakeRay(), stored.url, root, model, since=SINCE)
    assert since.complete and since.written_now == 0
    assert since.store_damaged == len(in_scope) and since.store_damaged_by_run == 0
    assert since.failed == 0 and since.by_other_runs == 4  # the damage is the other run's

    _restore(stored, lost, *lost)
    again = ray_pipeline(monkeypatch, FakeRay(), stored.url, root, model, since=SINCE)
    assert again.restored == len(in_scope) and again.written_now == len(in_scope)
    assert again.complete and again.store_damaged == 0 and again.failed == 0
    outcomes = _outcomes(stored.url)
    assert all(outcomes[i] is None for i in in_scope)
    assert all(outcomes[i] == MISSING_FILE for i in set(lost) - set(in_scope))
