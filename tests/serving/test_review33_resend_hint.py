"""A photo the family already has, sent again with another room hint: answered 200 as filed
(a phone's retry after a lost answer must still succeed), and told that the hint sent was not
taken (`room_hint_ignored`: the hint sent, the one filed, what to do), and audited so. Sent
again with the filed hint or with none, nothing is said. On SQLite and PostgreSQL.

A re-send is answered by `record_resend` before any decoding; bytes filed by another request
while this one was scored are found by `record_upload` (the race below): both tell it."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from serving.api.routes.photos import photo_out
from serving.db.models import User
from serving.db.session import session_scope
from serving.uploads import record_resend
from tests.serving.helpers import REGION, Service, audit_entries, jpeg


def _resend(service: Service, photo: bytes, room_hint: str | None) -> dict[str, Any]:
    """The answer to `photo` sent again for F1 by the inspector, with `room_hint`."""
    with session_scope(service.services.sessions) as session:
        inspector = session.execute(select(User.id).where(User.username == "inspector"))
        user_id = inspector.scalar_one()
    answer = record_resend(
        service.services, photo, sha256=hashlib.sha256(photo).hexdigest(),
        actor=(user_id, "inspector"), family_id="F1", idempotency=None,
        viewer=("inspector", REGION), shape=photo_out, room_hint=room_hint,
    )  # fmt: skip
    assert answer is not None and answer[0] == 200, answer
    return answer[1]


def _filed(service: Service, photo: bytes, room_hint: str | None) -> dict[str, Any]:
    data = {"room_hint": room_hint} if room_hint else {}
    response = service.upload("F1", photo, data=data)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_photo_sent_again_with_another_room_is_told_the_room_was_not_taken(service):
    service.create_family("F1")
    photo = jpeg(71)
    first = _filed(service, photo, "kitchen")
    assert first["room_hint_ignored"] is None  # filed with the hint it was sent with

    again = _resend(service, photo, "bathroom")
    assert again["duplicate"] is True and again["photo_id"] == first["photo_id"]
    assert again["room_hint"] == "kitchen"  # the filed photo's, unchanged
    ignored = again["room_hint_ignored"]
    assert (ignored["sent"], ignored["stored"]) == ("bathroom", "kitchen")
    assert "bathroom" in ignored["text"] and "kitchen" in ignored["text"]
    told = f"PUT /families/F1/photos/{first['photo_id']}/room"  # the correction, addressed
    assert told in ignored["text"], ignored["text"]

    (entry,) = audit_entries(service, "photo_upload_duplicate")
    assert entry.details["room_hint_ignored"] == {"sent": "bathroom", "stored": "kitchen"}


def test_a_room_sent_for_a_photo_filed_without_one_is_not_taken_either(service):
    service.create_family("F1")
    photo = jpeg(72)
    _filed(service, photo, None)
    again = _resend(service, photo, "bedroom")
    assert again["room_hint"] is None
    ignored = again["room_hint_ignored"]
    assert (ignored["sent"], ignored["stored"]) == ("bedroom", None)
    assert "bedroom" in ignored["text"]


@pytest.mark.parametrize("sent", ["kitchen", None], ids=["same-room", "no-room"])
def test_a_photo_sent_again_with_its_own_room_or_none_says_nothing_of_it(service, sent):
    service.create_family("F1")
    photo = jpeg(73)
    _filed(service, photo, "kitchen")
    again = _resend(service, photo, sent)
    assert again["duplicate"] is True and again["room_hint"] == "kitchen"
    assert "room_hint_ignored" in again and again["room_hint_ignored"] is None
    (entry,) = audit_entries(service, "photo_upload_duplicate")
    assert "room_hint_ignored" not in entry.details


def _race(service: Service, monkeypatch: pytest.MonkeyPatch, photo: bytes, rooms: list[str]):
    """Upload `photo` for F1 at once, once per room of `rooms`, with no Idempotency-Key; each
    answer as (status, body). A barrier in front of the store holds every request until all
    are scored: none finds the photo filed before it files it (`record_resend`)."""
    store = service.services.store
    real_put = store.put
    barrier = threading.Barrier(len(rooms), timeout=60)

    def put(data: bytes) -> Any:
        barrier.wait()
        return real_put(data)

    monkeypatch.setattr(store, "put", put)
    with ThreadPoolExecutor(len(rooms)) as pool:
        sent = pool.map(lambda room: service.upload("F1", photo, data={"room_hint": room}), rooms)
        answers = [(response.status_code, response.json()) for response in sent]
    monkeypatch.setattr(store, "put", real_put)
    return answers


def test_a_photo_filed_meanwhile_with_another_room_tells_the_room_was_not_taken(
    service, monkeypatch
):
    service.create_family("F1")
    answers = _race(service, monkeypatch, jpeg(74), ["kitchen", "bathroom"])
    assert sorted(status for status, _ in answers) == [200, 201], answers
    (filed,) = [body for status, body in answers if status == 201]
    (again,) = [body for status, body in answers if status == 200]
    assert filed["room_hint_ignored"] is None
    assert again["duplicate"] is True and again["room_hint"] == filed["room_hint"]
    ignored = again["room_hint_ignored"]
    assert ignored["stored"] == filed["room_hint"]
    assert ignored["sent"] == ({"kitchen", "bathroom"} - {filed["room_hint"]}).pop()
    (entry,) = audit_entries(service, "photo_upload_duplicate")
    assert entry.details["room_hint_ignored"] == {k: ignored[k] for k in ("sent", "stored")}


def test_a_photo_filed_meanwhile_with_the_same_room_says_nothing_of_it(service, monkeypatch):
    service.create_family("F1")
    answers = _race(service, monkeypatch, jpeg(75), ["kitchen", "kitchen"])
    assert sorted(status for status, _ in answers) == [200, 201], answers
    assert [body["room_hint_ignored"] for _, body in answers] == [None, None]


def test_the_upload_answer_documents_the_room_hint_not_taken(service):
    spec = service.client.get("/openapi.json").json()
    upload_out = spec["components"]["schemas"]["UploadOut"]
    assert "room_hint_ignored" in upload_out["properties"]
    ignored = spec["components"]["schemas"]["RoomHintIgnored"]
    assert set(ignored["properties"]) == {"sent", "stored", "text"}
