"""The reuse index is rebuilt at start in upload order (photo id), whatever order the
database hands its rows in: candidates tied on distance beyond `max_candidates` are cut in
that order, so a restart must not change which are verified."""

from __future__ import annotations

from sqlalchemy import update

from serving.app import build_reuse_index
from serving.db.models import Family, Photo
from serving.db.session import session_scope
from tests.serving.helpers import jpeg


def test_the_index_is_rebuilt_in_photo_id_order(service):
    ids = []
    for i, family in enumerate(("F1", "F2", "F3")):
        service.create_family(family)
        uploaded = service.upload(family, jpeg(40 + i, size=(800, 600)))
        assert uploaded.status_code == 201, uploaded.text
        ids.append(uploaded.json()["photo_id"])
    # An update writes a new row version: PostgreSQL's sequential scans then return the first
    # photo and its family last. Before, the index was rebuilt in that order.
    with session_scope(service.services.sessions) as session:
        session.execute(update(Photo).where(Photo.id == ids[0]).values(room_hint="kitchen"))
        session.execute(update(Family).where(Family.id == "F1").values(version=Family.version + 1))
    index = build_reuse_index(service.services)
    assert [int(key) for key in index._photos] == sorted(ids)
