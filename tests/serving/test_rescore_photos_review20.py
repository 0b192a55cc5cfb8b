"""Re-scoring's photo bookkeeping, review 20: the store-damage outcomes of a run are checked
for restored files a bounded page at a time (a store that lost a disk damages millions, and
one query or one DELETE for all of them held them all in memory and passed the database's
limit on bound values), and every restored one, on any page, is scored while the others stay
named as damage."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

import serving.rescore
import serving.rescore_photos
import serving.rescore_reads
from serving.db.models import Photo, RescoredScore
from serving.db.session import make_engine, make_session_factory
from serving.rescore import rescore
from serving.rescore_provenance import RunProvenance
from serving.rescore_runs import RescoreResumeError
from tests.serving.rescore_fixtures import StoredPhotos, listen_on_reads, populate
from vision.bulk import open_scorer

PAGE = 2
DAMAGED = (0, 1, 3, 5, 6)  # indexes of the photos whose originals the store loses


@pytest.fixture(scope="module")
def scorer(model: Path) -> Any:
    return open_scorer(model, prefer="cpu", max_pixels=50_000_000, decode_short_side=1024)


def _damaged_store(tmp_path: Path, scorer: Any) -> tuple[StoredPhotos, Any, dict[int, bytes]]:
    """7 photos, 5 of whose originals the store lost when the run scored: (the photos, the
    engine, each lost original's bytes by photo id, for restoring it)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored = populate(url, tmp_path / "photos", 7)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        sha = {i: h for i, h in session.execute(select(Photo.id, Photo.sha256))}
    lost = {}
    for i in DAMAGED:
        path = stored.store.path_for(sha[stored.ids[i]])
        lost[stored.ids[i]] = path.read_bytes()
        path.unlink()
    report = rescore(engine, stored.store, scorer, batch_size=PAGE, progress=False)
    assert report.complete and report.store_damaged == len(DAMAGED) and report.scored == 2
    return stored, engine, lost


def _restore(stored: StoredPhotos, lost: dict[int, bytes], photo_id: int) -> None:
    stored.store.put(lost[photo_id])  # from a backup


def _outcomes(engine: Any) -> dict[int, tuple[bool, str | None]]:
    with make_session_factory(engine)() as session:
        rows = session.execute(select(RescoredScore)).scalars().all()
        return {row.photo_id: (row.score is not None, row.error) for row in rows}


def test_restored_originals_are_checked_and_discarded_a_bounded_page_at_a_time(
    tmp_path: Path, scorer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored, engine, lost = _damaged_store(tmp_path, scorer)
    for photo_id in lost:
        _restore(stored, lost, photo_id)
    monkeypatch.setattr(serving.rescore_photos, "RESTORED_PAGE", PAGE)

    # What retry_restored does, in order: each page it queries, each original it checks (a
    # row that page fetched), each DELETE with the ids it names.
    seen: list[tuple[str, int]] = []
    retrying = False

    def on_execute(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if retrying and statement.startswith("SELECT") and "JOIN photos" in statement:
            seen.append(("page", 0))
        elif retrying and statement.startswith("DELETE FROM rescore_scores"):
            seen.append(("delete", len(params)))

    read_original = serving.rescore_photos.read_original

    def reading(store: Any, sha256: str) -> bytes | str:
        if retrying:
            seen.append(("read", 1))
        return read_original(store, sha256)

    retry_restored = serving.rescore.retry_restored

    def watched(*args: Any) -> int:
        nonlocal retrying
        retrying = True
        try:
            return retry_restored(*args)
        finally:
            retrying = False

    event.listen(engine, "before_cursor_execute", on_execute)
    listen_on_reads(monkeypatch, on_execute)  # the pages are listed on a read engine
    monkeypatch.setattr(serving.rescore_photos, "read_original", reading)
    monkeypatch.setattr(serving.rescore, "retry_restored", watched)
    again = rescore(engine, stored.store, scorer, batch_size=PAGE, progress=False)

    assert again.restored == len(DAMAGED) and again.store_damaged == 0 and again.complete
    assert again.scored == 7 and again.failed == 0
    assert all(ok for ok, _ in _outcomes(engine).values()) and len(_outcomes(engine)) == 7
    kinds = [kind for kind, _ in seen]
    assert kinds.count("read") == len(DAMAGED)  # every damaged original checked, once
    # Rows fetched per query: the originals checked between one page's query and the next.
    fetched, count = [], None
    for kind in kinds:
        if kind == "page":
            fetched += [count] if count is not None else []
            count = 0
        elif kind == "read" and count is not None:
            count += 1
    assert kinds[0] == "page" and fetched and max(fetched) <= PAGE, kinds
    deletes = [n for kind, n in seen if kind == "delete"]
    assert sum(deletes) == len(DAMAGED) and max(deletes) <= PAGE, seen
    engine.dispose()


def test_a_restored_original_on_a_later_page_is_scored_and_the_rest_stay_damage(
    tmp_path: Path, scorer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored, engine, lost = _damaged_store(tmp_path, scorer)
    monkeypatch.setattr(serving.rescore_photos, "RESTORED_PAGE", PAGE)
    back = stored.ids[DAMAGED[3]]  # on the second page of damage outcomes
    _restore(stored, lost, back)
    before = _outcomes(engine)

    # The finished run reopens only under its provenance, checked before anything goes.
    other = dataclasses.replace(RunProvenance.of(scorer), code_version="9.9.9+000000000000")
    with pytest.raises(RescoreResumeError):
        rescore(engine, stored.store, scorer, progress=False, provenance=other)
    assert _outcomes(engine) == before

    again = rescore(engine, stored.store, scorer, batch_size=PAGE, progress=False)
    assert again.restored == 1 and again.this_session == 1 and again.complete
    still = sorted(set(lost) - {back})
    assert again.store_damaged == len(still) and again.store_damaged_ids == still
    assert again.scored == 3 and again.failed == len(still)
    outcomes = _outcomes(engine)
    assert outcomes[back] == (True, None)
    assert all(outcomes[i] == (False, "the photo file is missing from the store") for i in still)

    third = rescore(engine, stored.store, scorer, batch_size=PAGE, progress=False)
    assert third.restored == 0 and third.this_session == 0 and third.failed == len(still)
    engine.dispose()
