"""Reuse flags in the service: verified on stored pixels, and only for committed photos."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import event, func, select

from benchmarks.bench_hashing import EDITS
from benchmarks.quality_curves import scenes
from serving.db.models import Photo
from tests.vision.test_reuse import _look_alike


def _jpeg(pixels: np.ndarray, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def room() -> np.ndarray:
    return scenes(1, seed=21, width=1024)[0]


def _reuse_seen_by_commission(service, photo_id: int) -> dict:
    response = service.client.get(f"/photos/{photo_id}", headers=service.headers("commission"))
    assert response.status_code == 200, response.text
    return response.json()["reuse"]


@pytest.mark.parametrize("edit", ["crop-8%", "crop-4%+half+q60"])
def test_cropped_reupload_for_another_family_is_flagged(service, room, edit):
    service.create_family("F1")
    service.create_family("F2")
    first = service.upload("F1", _jpeg(room)).json()
    second = service.upload("F2", _jpeg(EDITS[edit](room)))
    assert second.status_code == 201, second.text
    assert second.json()["reuse"]["reused"] and second.json()["reuse"]["matches"] == 1
    seen = _reuse_seen_by_commission(service, second.json()["photo_id"])
    assert [d["photo_id"] for d in seen["details"]] == [first["photo_id"]]
    # The earlier photo is flagged too, from the cached verdict.
    assert _reuse_seen_by_commission(service, first["photo_id"])["matches"] == 1


def test_look_alike_home_is_not_flagged(service):
    service.create_family("F1")
    service.create_family("F2")
    service.upload("F1", _jpeg(_look_alike(6)))
    second = service.upload("F2", _jpeg(_look_alike(27)))
    assert second.status_code == 201
    assert second.json()["reuse"] == {"reused": False, "matches": 0, "details": []}


def test_index_rebuilt_at_start_keeps_crop_hashes(service, room):
    from serving.app import _reuse_index

    service.create_family("F1")
    service.create_family("F2")
    service.upload("F1", _jpeg(room))
    service.services.reuse = _reuse_index(service.services)  # as at start-up: from the rows
    assert len(service.services.reuse) == 1
    second = service.upload("F2", _jpeg(EDITS["crop-8%"](room)))
    assert second.json()["reuse"]["reused"]


def test_failed_commit_leaves_no_phantom_entry(service, room):
    service.create_family("F1")
    service.create_family("F2")
    sessions = service.services.sessions
    failures = []

    def fail_once(session):  # the commit of the upload's transaction fails, once
        pending = [*session.new, *session.identity_map.values()]
        if not failures and any(isinstance(o, Photo) for o in pending):
            failures.append(True)
            raise RuntimeError("disk full")

    event.listen(sessions, "before_commit", fail_once)
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            service.upload("F1", _jpeg(room))
    finally:
        event.remove(sessions, "before_commit", fail_once)
    assert failures and len(service.services.reuse) == 0
    with sessions() as session:
        assert session.execute(select(func.count()).select_from(Photo)).scalar_one() == 0
    # The same photo for another family: nothing committed matches it.
    second = service.upload("F2", _jpeg(room))
    assert second.status_code == 201
    assert second.json()["reuse"]["reused"] is False
    # The photo id the failed transaction gave back carries nothing of it either.
    third = service.upload("F1", _jpeg(EDITS["jpeg-q40"](scenes(1, seed=5, width=640)[0])))
    assert third.json()["reuse"]["reused"] is False
