"""A photo the family already has, sent again through the upload route or the upload page with
another room: answered 200 as filed, and told the room sent was not taken (`room_hint_ignored`;
the page says it in the reader's words). With the filed room or none, nothing is said. On
SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.web.i18n import load_catalogues
from tests.serving.helpers import PASSWORD, Service, audit_entries, jpeg
from tests.web.helpers import csrf_from, sign_in

EN = load_catalogues()["en"]


def _upload(service: Service, photo: bytes, room: str | None, **kw: Any) -> Any:
    return service.upload("F1", photo, data={"room_hint": room} if room else {}, **kw)


def test_a_photo_sent_again_with_another_room_is_answered_as_filed_and_told(service):
    service.create_family("F1")
    photo = jpeg(81)
    first = _upload(service, photo, "kitchen")
    assert first.status_code == 201, first.text

    again = _upload(service, photo, "bathroom")
    assert again.status_code == 200, again.text  # a retry after a lost answer still succeeds
    body = again.json()
    assert body["duplicate"] is True and body["photo_id"] == first.json()["photo_id"]
    assert body["room_hint"] == "kitchen"
    ignored = body["room_hint_ignored"]
    assert (ignored["sent"], ignored["stored"]) == ("bathroom", "kitchen")
    (address,) = re.findall(r"PUT (/families/\S+/room)", ignored["text"])
    assert address == f"/families/F1/photos/{body['photo_id']}/room"
    shown = service.client.get(f"/photos/{body['photo_id']}", headers=service.headers("inspector"))
    assert shown.json()["room_hint"] == "kitchen"  # nothing filed changed
    corrected = service.client.put(
        address, json={"room_hint": "bathroom", "reason": "the bathroom, noted wrongly"},
        headers=service.headers("inspector"),
    )  # fmt: skip
    assert corrected.status_code == 200, corrected.text  # the address told corrects it
    assert corrected.json()["room_hint"] == "bathroom"
    (entry,) = audit_entries(service, "photo_upload_duplicate")
    assert entry.details["room_hint_ignored"] == {"sent": "bathroom", "stored": "kitchen"}


def test_a_photo_sent_again_under_a_new_key_with_another_room_is_told_and_replayed(service):
    service.create_family("F1")
    photo = jpeg(82)
    assert _upload(service, photo, None, headers={"Idempotency-Key": "a"}).status_code == 201
    again = _upload(service, photo, "bedroom", headers={"Idempotency-Key": "b"})
    assert again.status_code == 200, again.text
    assert again.json()["room_hint_ignored"]["sent"] == "bedroom"
    assert again.json()["room_hint_ignored"]["stored"] is None
    retried = _upload(service, photo, "bedroom", headers={"Idempotency-Key": "b"})
    assert (retried.status_code, retried.json()) == (200, again.json())


@pytest.mark.parametrize("sent", ["kitchen", None], ids=["same-room", "no-room"])
def test_a_photo_sent_again_with_its_own_room_or_none_says_nothing_of_it(service, sent):
    service.create_family("F1")
    photo = jpeg(83)
    assert _upload(service, photo, "kitchen").status_code == 201
    again = _upload(service, photo, sent)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert "room_hint_ignored" in again.json() and again.json()["room_hint_ignored"] is None


def _page_send(browser: TestClient, token: str, photo: bytes, room: str) -> str:
    response = browser.post(
        "/ui/upload",
        data={"csrf_token": token, "family_id": "F1", "room_hint": room},
        files=[("files", ("p.jpg", photo, "image/jpeg"))],
        headers={"X-Requested-With": "fetch"},  # as the page's script sends it
    )
    assert response.status_code == 200, response.text
    return html.unescape(response.text)


def test_the_upload_page_says_the_room_chosen_for_a_filed_photo_was_not_taken(service):
    service.create_family("F1")
    browser = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "inspector", PASSWORD).status_code == 303
    token = csrf_from(browser.get("/ui/upload").text)
    photo = jpeg(84)
    said = EN["upload.room_hint_ignored"].format(stored="kitchen", sent="bathroom")

    first = _page_send(browser, token, photo, "kitchen")
    assert EN["upload.duplicate"] not in first and said not in first
    same = _page_send(browser, token, photo, "kitchen")
    assert EN["upload.duplicate"] in same and "room-not-taken" not in same
    other = _page_send(browser, token, photo, "bathroom")
    assert EN["upload.duplicate"] in other and said in other
    unnoted = _page_send(browser, token, jpeg(85), "")
    assert "room-not-taken" not in unnoted
    noted_now = _page_send(browser, token, jpeg(85), "bedroom")
    assert EN["upload.room_hint_ignored_unnoted"].format(sent="bedroom") in noted_now
