"""Reuse flags in the service: verified on stored pixels, for committed and in-flight photos."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import event, func, select

from benchmarks.bench_hashing import EDITS
from benchmarks.quality_curves import scenes
from serving.db.models import Photo
from serving.reuse_index import ReuseIndex
from tests.serving.helpers import REGION
from tests.vision.reuse_helpers import look_alike


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
    service.upload("F1", _jpeg(look_alike(6)))
    second = service.upload("F2", _jpeg(look_alike(27)))
    assert second.status_code == 201
    assert second.json()["reuse"] == {"reused": False, "matches": 0, "details": []}


def test_index_rebuilt_at_start_keeps_crop_hashes(service, room):
    from serving.app import build_reuse_index

    service.create_family("F1")
    service.create_family("F2")
    service.upload("F1", _jpeg(room))
    service.services.reuse = build_reuse_index(service.services)  # as at start-up: from the rows
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
    # The same photo for another family: nothing committed, nor left in flight, matches it.
    second = service.upload("F2", _jpeg(room))
    assert second.status_code == 201
    assert second.json()["reuse"]["reused"] is False
    # The photo id the failed transaction gave back carries nothing of it either.
    third = service.upload("F1", _jpeg(EDITS["jpeg-q40"](scenes(1, seed=5, width=640)[0])))
    assert third.json()["reuse"]["reused"] is False


def test_upload_in_flight_is_flagged_by_a_later_check(service, room, monkeypatch):
    service.create_family("F1")
    service.create_family("F2")
    reuse = service.services.reuse
    checked, release = threading.Event(), threading.Event()
    real_verified = reuse.verified

    def held_after_check(*args, **kwargs):  # upload A waits here: checked, not committed
        found = real_verified(*args, **kwargs)
        if kwargs["family_id"] == "F1" and not checked.is_set():
            checked.set()
            assert release.wait(timeout=60), "upload A was never released"
        return found

    monkeypatch.setattr(reuse, "verified", held_after_check)
    answers = {}
    upload_a = threading.Thread(target=lambda: answers.update(a=service.upload("F1", _jpeg(room))))
    upload_a.start()
    try:
        assert checked.wait(timeout=60), "upload A never reached its reuse check"
        second = service.upload("F2", _jpeg(room, quality=70), who="admin")
        seen_meanwhile = _reuse_seen_by_commission(service, second.json()["photo_id"])
    finally:
        release.set()
        upload_a.join(timeout=60)
    assert second.status_code == 201, second.text
    reuse_b = second.json()["reuse"]
    assert reuse_b["reused"] and reuse_b["matches"] == 1
    # A is not committed yet: it is named by its family, without a photo id.
    assert [(d["photo_id"], d["family_id"]) for d in reuse_b["details"]] == [(None, "F1")]
    # Pages and assessments count filed photos only: A may still fail to commit.
    assert seen_meanwhile["reused"] is False
    first = answers["a"]
    assert first.status_code == 201, first.text
    # A's check ran before B registered: A cannot have seen B (the documented order).
    assert first.json()["reuse"]["reused"] is False
    # Once A is committed, its in-flight entry is its filed photo: B now names its id.
    seen = _reuse_seen_by_commission(service, second.json()["photo_id"])
    assert [(d["photo_id"], d["family_id"]) for d in seen["details"]] == [
        (first.json()["photo_id"], "F1")
    ]
    assert _reuse_seen_by_commission(service, first.json()["photo_id"])["matches"] == 1
    assert len(reuse) == 2


def _index_and_hex(room: np.ndarray) -> tuple[ReuseIndex, str]:
    from vision.engine import get_engine_config
    from vision.hashing import reuse_hashes

    config = get_engine_config().hashing
    return ReuseIndex(config=config), reuse_hashes(room, config.crop_fractions).to_hex()


def _commission_sees(
    index: ReuseIndex, hex_hash: str, room: np.ndarray, *, in_flight: bool = True
) -> dict:
    return index.matches(
        hex_hash, family_id="F2", viewer_role="commission", viewer_region=REGION,
        sha256="b" * 64, pixels=room, in_flight=in_flight,
    )  # fmt: skip


def test_in_flight_entry_is_gone_after_a_failure_and_filed_after_commit(room):
    index, hex_hash = _index_and_hex(room)
    flight = {"family_id": "F1", "region": REGION, "sha256": "a" * 64, "pixels": room}
    with pytest.raises(RuntimeError, match="disk full"), index.in_flight(hex_hash, **flight):
        assert _commission_sees(index, hex_hash, room)["details"] == [
            {"photo_id": None, "family_id": "F1", "distance": 0}
        ]
        assert _commission_sees(index, hex_hash, room, in_flight=False)["reused"] is False
        elsewhere = index.matches(
            hex_hash, family_id="F2", viewer_role="commission", viewer_region="astana",
            sha256="b" * 64, pixels=room, in_flight=True,
        )  # fmt: skip
        assert elsewhere["details"] == [{"photo_id": None, "family_id": None, "distance": 0}]
        raise RuntimeError("disk full")
    assert _commission_sees(index, hex_hash, room)["reused"] is False
    with index.in_flight(hex_hash, **flight) as token:
        index.commit(token, 7)
    assert len(index) == 1
    assert [d["photo_id"] for d in _commission_sees(index, hex_hash, room)["details"]] == [7]


def test_bytes_already_filed_count_once_while_in_flight_again(room):
    index, hex_hash = _index_and_hex(room)
    index.add(7, hex_hash, family_id="F1", region=REGION, sha256="a" * 64)
    flight = {"family_id": "F1", "region": REGION, "sha256": "a" * 64, "pixels": room}
    with index.in_flight(hex_hash, **flight), index.in_flight(hex_hash, **flight):
        seen = _commission_sees(index, hex_hash, room)
    assert [d["photo_id"] for d in seen["details"]] == [7]
    # In flight twice for a family that has not filed it yet: one match, too.
    again = {**flight, "family_id": "F3", "sha256": "c" * 64}
    with index.in_flight(hex_hash, **again), index.in_flight(hex_hash, **again):
        seen = _commission_sees(index, hex_hash, room)
    assert sorted((d["photo_id"] or 0, d["family_id"]) for d in seen["details"]) == [
        (0, "F3"),
        (7, "F1"),
    ]
