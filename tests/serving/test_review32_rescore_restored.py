"""Re-scoring, review 32: the upload day a refusal names for photos restored to the store.

After an update of the code, a promoted run whose scope holds originals restored to the store
is refused, and names a new run from the upload day of the first photo to score again
(`--since DAY`). Restored originals are found a page of store-damage outcomes at a time, in
photo id order, and the refusal came on the first page holding one: the day was the earliest
of that page's, while a restored photo on a later page may have been uploaded earlier (ids
follow the order uploads were filed in, not their clocks: two servers, a clock stepped back).
The run named then left that photo out. The day named now counts every photo of the scope
recorded as store damage, on any page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

import serving.rescore_photos
from serving.db.models import Photo
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.promote import promote
from serving.rescore import rescore
from serving.rescore_runs import RescoreResumeError
from tests.serving.rescore_fixtures import DAY0, cpu_scorer, populate, tiny_model
from tests.serving.rescore_helpers import NEW_CODE, OLD_CODE, new_code

KEY = b"test-secret-key-0123456789abcdef"
PAGE = 2  # store-damage outcomes a page, in place of 1,000
LOST = (1, 2, 3)  # the indexes of the photos whose originals the store loses
EARLY = datetime(2026, 1, 1, 12, tzinfo=UTC)  # photo 4's upload, before photos 2 and 3's


def test_the_day_named_counts_a_restored_photo_on_a_later_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Photos 2, 3 and 4 lost, run 1 (the old code) promoted, all three restored since; photo 4,
    alone on the second page, was uploaded on 2026-01-01, before photos 2 and 3 (2026-01-02,
    2026-01-03). The refusal under the new code names 2026-01-01, and that run scores all
    three."""
    new_code(monkeypatch, OLD_CODE)
    model = tiny_model(tmp_path / "models")
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored = populate(url, tmp_path / "photos", 4)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        session.execute(update(Photo).where(Photo.id == stored.ids[3]).values(created_at=EARLY))
        lost = {stored.ids[i]: session.get_one(Photo, stored.ids[i]).sha256 for i in LOST}
    kept = {}
    for photo_id, sha256 in lost.items():
        path = stored.store.path_for(sha256)
        kept[photo_id] = path.read_bytes()
        path.unlink()
    first = rescore(engine, stored.store, cpu_scorer(model), progress=False)
    assert (first.scored, first.store_damaged) == (1, 3)
    assert promote(sessions, KEY, model_dir=model, serving_model_dir=model, actor="t").updated == 1
    for data in kept.values():
        stored.store.put(data)  # restored from a backup ...
    new_code(monkeypatch, NEW_CODE)  # ... after the service was updated
    monkeypatch.setattr(serving.rescore_photos, "RESTORED_PAGE", PAGE)

    with pytest.raises(RescoreResumeError) as refused:
        rescore(engine, stored.store, cpu_scorer(model), progress=False)
    message = refused.value.message
    assert "`shanyraq rescore --model DIR --since 2026-01-01`" in message, message

    # The run it names scores every restored photo; promotion adopts them.
    since = rescore(engine, stored.store, cpu_scorer(model), since=DAY0, progress=False)
    assert since.complete and since.restored == 3 and since.scored_now == 3
    assert promote(sessions, KEY, model_dir=model, serving_model_dir=model, actor="t").updated == 3
    with sessions() as session:
        versions = set(session.execute(select(Photo.model_version)).scalars())
    assert versions == {"test-0"}
    engine.dispose()
