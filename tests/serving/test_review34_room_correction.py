"""A filed photo's room note corrected (PUT /families/{family_id}/photos/{photo_id}/room): by
the inspector who uploaded it or an admin of its region, with a reason, kept as a correction
and audited in the same transaction (the entry pins the reason by its hash); refused to anyone
else, for an unknown room, without a reason. The assessment never reads the note, so none goes
out of date. On SQLite and PostgreSQL."""

from __future__ import annotations

import html
from typing import Any

import pytest
from sqlalchemy import select

from serving import audit
from serving.db.models import Photo, RoomCorrection
from serving.db.session import session_scope
from serving.decisions import reason_sha256
from serving.latest_assessments import lock_family
from serving.web.i18n import load_catalogues
from tests.serving.helpers import (
    OTHER_REGION,
    PASSWORD,
    REGION,
    Service,
    audit_entries,
    jpeg,
    waiting_on_a_lock,
)
from tests.serving.lock_helpers import in_thread, wait_for
from tests.web.helpers import page_client

EN = load_catalogues()["en"]
ACTION = "photo_room_corrected"
REASON = "Chose kitchen by mistake at the visit."


def _filed(service: Service, room: str | None = "kitchen", *, who: str = "inspector") -> int:
    """A photo filed for F1 (made here) by `who`, noted as `room`; its id."""
    service.create_family("F1")
    data = {"room_hint": room} if room else {}
    response = service.upload("F1", jpeg(91), who=who, data=data)
    assert response.status_code == 201, response.text
    return int(response.json()["photo_id"])


def _correct(
    service: Service, photo_id: int, body: dict[str, Any], *, who: str = "inspector",
    family_id: str = "F1", headers: dict[str, str] | None = None,
) -> Any:  # fmt: skip
    return service.client.put(
        f"/families/{family_id}/photos/{photo_id}/room", json=body,
        headers=headers or service.headers(who),
    )  # fmt: skip


def _room_of(service: Service, photo_id: int) -> str | None:
    with session_scope(service.services.sessions) as session:
        return session.execute(select(Photo.room_hint).where(Photo.id == photo_id)).scalar_one()


def _chain_holds(service: Service) -> bool:
    with session_scope(service.services.sessions) as session:
        return audit.verify(session, service.services.signing_key).ok


def _corrections(service: Service) -> list[RoomCorrection]:
    """The room corrections kept, oldest first."""
    with session_scope(service.services.sessions) as session:
        found = session.execute(select(RoomCorrection).order_by(RoomCorrection.id)).scalars()
        return list(found)


def _unchanged(service: Service, photo_id: int, room: str | None = "kitchen") -> bool:
    return (
        _room_of(service, photo_id) == room
        and not audit_entries(service, ACTION)
        and not _corrections(service)
    )


def test_the_uploader_corrects_the_note_and_the_change_is_audited(service):
    photo_id = _filed(service)
    response = _correct(service, photo_id, {"room_hint": "bathroom", "reason": f"  {REASON}\n"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["room_hint"], body["previous_room_hint"]) == ("bathroom", "kitchen")
    assert body["unchanged"] is False
    assert _room_of(service, photo_id) == "bathroom"

    (entry,) = audit_entries(service, ACTION)
    (kept,) = _corrections(service)
    assert (entry.actor, entry.target) == ("inspector", f"photo:{photo_id}")
    assert entry.details == {
        "family_id": "F1", "sha256": body["sha256"], "previous_room_hint": "kitchen",
        "room_hint": "bathroom", "correction_id": kept.id, "reason_sha256": reason_sha256(REASON),
    }  # fmt: skip
    assert (kept.photo_id, kept.family_id, kept.previous_room_hint, kept.room_hint) == (
        photo_id, "F1", "kitchen", "bathroom",
    )  # fmt: skip
    assert (kept.reason, kept.unchanged) == (REASON, False)  # surrounding space dropped
    assert _chain_holds(service)

    # The answer is the photo as its view shows it, with the note it had before.
    shown = service.client.get(f"/photos/{photo_id}", headers=service.headers("inspector"))
    assert shown.status_code == 200
    assert {k: v for k, v in body.items() if k not in ("previous_room_hint", "unchanged")} == (
        shown.json()
    )


@pytest.mark.parametrize("admin", ["admin", "admin_national"])
def test_an_admin_corrects_a_note_an_inspector_filed(service, admin):
    photo_id = _filed(service)
    response = _correct(service, photo_id, {"room_hint": "bedroom", "reason": REASON}, who=admin)
    assert response.status_code == 200, response.text
    assert _room_of(service, photo_id) == "bedroom"
    (entry,) = audit_entries(service, ACTION)
    assert entry.actor == admin and entry.details["previous_room_hint"] == "kitchen"


def test_another_inspector_of_the_region_is_refused(service):
    photo_id = _filed(service)
    made = service.client.post(
        "/users", headers=service.headers("admin_national"),
        json={"username": "inspector_two", "password": PASSWORD, "role": "inspector",
              "region": REGION},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    other = {"Authorization": f"Bearer {service.sign_in('inspector_two')}"}
    response = _correct(
        service, photo_id, {"room_hint": "bathroom", "reason": REASON}, headers=other
    )
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "forbidden"
    assert "only the inspector who uploaded" in response.json()["message"]
    assert "admin" in response.json()["message"]
    assert _unchanged(service, photo_id)


@pytest.mark.parametrize("role", ["commission", "annotator"])
def test_the_roles_that_file_no_photos_are_refused(service, role):
    photo_id = _filed(service)
    response = _correct(service, photo_id, {"room_hint": "bathroom", "reason": REASON}, who=role)
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert _unchanged(service, photo_id)


def test_a_photo_of_another_region_is_not_found(service):
    photo_id = _filed(service)
    service.create_family("F9", region=OTHER_REGION)
    body = {"room_hint": "bathroom", "reason": REASON}
    for family_id, said in [
        ("F1", "no family 'F1' in your region"),
        ("F9", f"no photo {photo_id} in your region"),  # under a family of the caller's region
    ]:
        response = _correct(service, photo_id, body, who="inspector_other", family_id=family_id)
        assert response.status_code == 404 and response.json()["code"] == "not_found"
        assert response.json()["message"] == said
    assert _unchanged(service, photo_id)


def test_a_photo_of_another_family_is_not_found(service):
    photo_id = _filed(service)
    service.create_family("F2")
    response = _correct(
        service, photo_id, {"room_hint": "bathroom", "reason": REASON}, family_id="F2"
    )
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert response.json()["message"] == f"no photo {photo_id} of family 'F2' in your region"
    assert _unchanged(service, photo_id)


def test_an_unknown_room_is_refused_as_at_upload(service):
    photo_id = _filed(service)
    at_upload = service.upload("F1", jpeg(92), data={"room_hint": "attic"})
    response = _correct(service, photo_id, {"room_hint": "attic", "reason": REASON})
    assert response.status_code == at_upload.status_code == 422, response.text
    assert response.json() == at_upload.json()  # the same check, the same words
    assert response.json()["code"] == "record_invalid" and "bathroom" in response.text
    assert _unchanged(service, photo_id)


def test_the_note_the_photo_has_is_answered_and_audited_unchanged(service):
    photo_id = _filed(service)
    response = _correct(service, photo_id, {"room_hint": "kitchen", "reason": REASON})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["unchanged"] is True
    assert body["room_hint"] == body["previous_room_hint"] == "kitchen"
    assert _room_of(service, photo_id) == "kitchen"
    # On the record all the same, as an unchanged family update is: no row changed.
    (entry,) = audit_entries(service, ACTION)
    (kept,) = _corrections(service)
    assert (entry.actor, entry.target) == ("inspector", f"photo:{photo_id}")
    assert entry.details == {
        "family_id": "F1", "sha256": body["sha256"], "previous_room_hint": "kitchen",
        "room_hint": "kitchen", "correction_id": kept.id,
        "reason_sha256": reason_sha256(REASON), "unchanged": True,
    }  # fmt: skip
    assert (kept.previous_room_hint, kept.room_hint, kept.unchanged) == ("kitchen", "kitchen", True)
    assert _chain_holds(service)


def test_null_clears_the_note(service):
    photo_id = _filed(service)
    response = _correct(service, photo_id, {"room_hint": None, "reason": REASON})
    assert response.status_code == 200, response.text
    assert (response.json()["room_hint"], response.json()["previous_room_hint"]) == (
        None,
        "kitchen",
    )
    assert _room_of(service, photo_id) is None
    (entry,) = audit_entries(service, ACTION)
    assert (entry.details["previous_room_hint"], entry.details["room_hint"]) == ("kitchen", None)
    noted = _correct(service, photo_id, {"room_hint": "exterior", "reason": REASON})
    assert noted.json()["previous_room_hint"] is None and _room_of(service, photo_id) == "exterior"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"room_hint": "bathroom", "reason": ""}, "body.reason"),
        ({"room_hint": "bathroom", "reason": " \n\t "}, "body.reason"),
        ({"room_hint": "bathroom"}, "body.reason"),
        ({"room_hint": "bathroom", "reason": "x" * 501}, "body.reason"),
        ({"reason": REASON}, "body.room_hint"),
    ],
    ids=["empty", "blank", "missing", "too-long", "no-room-given"],
)
def test_a_body_without_a_reason_or_a_room_is_refused(service, body, where):
    photo_id = _filed(service)
    response = _correct(service, photo_id, body)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["code"] == "request_invalid"
    assert [d["where"] for d in answer["details"]] == [where]
    assert _unchanged(service, photo_id)


def test_a_reason_is_kept_as_a_decisions_reason_is(service):
    """Without NUL characters (which PostgreSQL refuses in text), line breaks as LF, other
    characters as sent; the entry holds the hash of that, not the words."""
    photo_id = _filed(service)
    sent = "wrong\x00room\ttab\rcr"
    response = _correct(service, photo_id, {"room_hint": "bathroom", "reason": sent})
    assert response.status_code == 200, response.text
    (kept,) = _corrections(service)
    assert kept.reason == "wrongroom\ttab\ncr"
    (entry,) = audit_entries(service, ACTION)
    assert entry.details["reason_sha256"] == reason_sha256(kept.reason)
    assert "reason" not in entry.details
    assert _chain_holds(service)


def test_the_family_page_shows_the_corrected_note(service):
    photo_id = _filed(service)
    assert _correct(service, photo_id, {"room_hint": "bathroom", "reason": REASON}).is_success
    page = html.unescape(page_client(service, "commission").get("/ui/families/F1").text)
    assert EN["photo.heading_noted"].format(n=1, room=EN["room.bathroom"]) in page
    assert EN["photo.heading_noted"].format(n=1, room=EN["room.kitchen"]) not in page


def test_a_correction_leaves_the_assessment_current(service):
    photo_id = _filed(service)
    before = service.assess("F1")
    assert _correct(service, photo_id, {"room_hint": "bathroom", "reason": REASON}).is_success
    latest = service.client.get(
        "/families/F1/assessments/latest", headers=service.headers("commission")
    )
    assert latest.status_code == 200, latest.text
    after = latest.json()
    assert (after["assessment_id"], after["input_hash"]) == (
        before["assessment_id"],
        before["input_hash"],
    )
    assert after["stale_reason"] is None


def test_a_correction_waits_for_the_family_lock_and_audits_the_note_it_replaced(
    service, database_url
):
    if database_url.startswith("sqlite"):
        # SQLite's write lock, taken by the request's first read, orders it whole already.
        pytest.skip("the interleaving needs a database without a whole-file write lock")
    photo_id = _filed(service)
    with session_scope(service.services.sessions) as holder:
        assert lock_family(holder, "F1") is not None  # as an upload or a decision holds it
        holder.get(Photo, photo_id).room_hint = "bedroom"  # type: ignore[union-attr]
        holder.flush()
        run = in_thread(
            lambda: _correct(service, photo_id, {"room_hint": "bathroom", "reason": REASON})
        )
        wait_for(lambda: waiting_on_a_lock(service))
    response = run.result()
    assert response.status_code == 200, response.text
    assert response.json()["previous_room_hint"] == "bedroom"  # as committed before it
    (entry,) = audit_entries(service, ACTION)
    assert (entry.details["previous_room_hint"], entry.details["room_hint"]) == (
        "bedroom",
        "bathroom",
    )


def test_the_route_documents_its_body_and_answer(service):
    spec = service.client.get("/openapi.json").json()
    operation = spec["paths"]["/families/{family_id}/photos/{photo_id}/room"]["put"]
    assert operation["x-policy"] == {"roles": ["admin", "inspector"]}
    schemas = spec["components"]["schemas"]
    assert set(schemas["RoomCorrectionIn"]["required"]) == {"room_hint", "reason"}
    answer = schemas["RoomCorrectionOut"]
    assert {"previous_room_hint", "unchanged", "reuse", "room_hint"} <= set(answer["properties"])
    (example,) = answer["examples"]
    assert set(example) == set(answer["properties"])
