"""The form on a photo's card that corrects its room note: offered to the inspector who
uploaded the photo and to admins only, posted with the session's CSRF token, checked as the
API's PUT /families/{family_id}/photos/{photo_id}/room checks it (unknown room, empty reason,
another inspector 403, another region 404), and landing back on the card saying what the
note reads now; a refused one keeps what was chosen and typed. A request for the note the
photo has already is kept and audited as unchanged; the entry pins the reason by its hash."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import select

from serving.core.reason_chars import ReasonChars
from serving.db.models import Photo, RoomCorrection
from serving.db.session import session_scope
from serving.decisions import reason_sha256
from serving.users import create_user
from serving.web.i18n import load_catalogues
from tests.serving.helpers import OTHER_REGION, PASSWORD, REGION, Service, audit_entries, jpeg
from tests.web.helpers import csrf_from, page_client

# The shipped limit the test services run with (configs/serving.yaml reason_chars).
ROOM_REASON_MAX_CHARS = ReasonChars().room_correction_max

CATALOGUES = load_catalogues()
EN = CATALOGUES["en"]
ACTION = "photo_room_corrected"
REASON = "Chose kitchen by mistake at the visit."


def _filed(web: Service, room: str | None = "kitchen", *, family_id: str = "F1") -> int:
    """A photo filed for `family_id` (made here) by the inspector, noted as `room`; its id."""
    web.create_family(family_id)
    response = web.upload(family_id, jpeg(91), data={"room_hint": room} if room else {})
    assert response.status_code == 201, response.text
    return int(response.json()["photo_id"])


def _action(photo_id: int, family_id: str = "F1") -> str:
    return f"/ui/families/{family_id}/photos/{photo_id}/room"


def _has_form(page: str, photo_id: int) -> bool:
    return f'action="{_action(photo_id)}"' in page


def _post(client: Any, photo_id: int, *, room_hint: str, reason: str, family_id: str = "F1") -> Any:
    """The card's form as a browser sends it, with the CSRF token of the family page F1."""
    token = csrf_from(client.get("/ui/families/F1").text)
    return client.post(
        _action(photo_id, family_id),
        data={"csrf_token": token, "room_hint": room_hint, "reason": reason},
        follow_redirects=False,
    )


def _room_of(web: Service, photo_id: int) -> str | None:
    with session_scope(web.services.sessions) as session:
        return session.execute(select(Photo.room_hint).where(Photo.id == photo_id)).scalar_one()


def _selected(page: str, photo_id: int) -> str:
    """The room the card's form has chosen ("" for none noted)."""
    form = page.split(f'id="room-hint-{photo_id}"')[1].split("</select>")[0]
    found = re.search(r'<option value="([^"]*)" selected>', form)
    return found.group(1) if found else ""


def _typed(page: str, photo_id: int) -> str:
    found = re.search(rf'<textarea id="room-reason-{photo_id}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, "the card has no reason field"
    return html.unescape(found.group(1))


def _kept(web: Service) -> list[RoomCorrection]:
    """The room corrections kept, oldest first."""
    with session_scope(web.services.sessions) as session:
        return list(session.execute(select(RoomCorrection).order_by(RoomCorrection.id)).scalars())


def _other_inspector(web: Service) -> str:
    """A second inspector of the region, who filed none of the photos."""
    with session_scope(web.services.sessions) as session:
        create_user(
            session, username="inspector_two", password=PASSWORD, role="inspector", region=REGION
        )
    return "inspector_two"


@pytest.mark.parametrize("who", ["inspector", "admin", "admin_national"])
def test_the_uploader_and_admins_see_the_form_with_the_note_chosen(web, who):
    photo_id = _filed(web)
    page = page_client(web, who).get("/ui/families/F1")
    assert page.status_code == 200, page.text
    assert _has_form(page.text, photo_id)
    assert _selected(page.text, photo_id) == "kitchen"
    assert f'maxlength="{ROOM_REASON_MAX_CHARS}"' in page.text
    # Every room of the taxonomy, as the upload page offers them, and "no room noted".
    upload = page_client(web, "inspector").get("/ui/upload").text
    rooms = re.findall(
        r'<option value="(\w*)"', upload.split('id="room-hint"')[1].split("</select>")[0]
    )
    offered = page.text.split(f'id="room-hint-{photo_id}"')[1].split("</select>")[0]
    assert re.findall(r'<option value="(\w*)"', offered) == rooms
    assert EN["room_form.no_room"] in offered


def test_another_inspector_and_the_commission_see_no_form(web):
    photo_id = _filed(web)
    for who in (_other_inspector(web), "commission"):
        page = page_client(web, who).get("/ui/families/F1")
        assert page.status_code == 200, page.text
        assert not _has_form(page.text, photo_id), who
        assert EN["room_form.title"] not in page.text


def test_a_new_room_is_filed_audited_and_shown_on_the_card(web):
    photo_id = _filed(web)
    client = page_client(web, "inspector")
    sent = _post(client, photo_id, room_hint="bathroom", reason=f"  {REASON}\r\n")
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"] == (
        f"/ui/families/F1?room_corrected={photo_id}#room-noted-{photo_id}"
    )
    assert _room_of(web, photo_id) == "bathroom"
    (entry,) = audit_entries(web, ACTION)
    assert (entry.actor, entry.target) == ("inspector", f"photo:{photo_id}")
    assert (entry.details["previous_room_hint"], entry.details["room_hint"]) == (
        "kitchen",
        "bathroom",
    )
    (kept,) = _kept(web)
    assert (kept.reason, kept.unchanged) == (REASON, False)  # CRLF and surrounding space gone
    assert entry.details["correction_id"] == kept.id and "unchanged" not in entry.details
    assert entry.details["reason_sha256"] == reason_sha256(REASON)
    assert "reason" not in entry.details

    page = html.unescape(client.get(sent.headers["location"]).text)
    assert EN["photo.heading_noted"].format(n=1, room=EN["room.bathroom"]) in page
    notice = EN["room_form.corrected"].format(n=1, room=EN["room.bathroom"])
    assert f'id="room-noted-{photo_id}" tabindex="-1">{notice}</p>' in page
    assert _selected(page, photo_id) == "bathroom"


def test_no_room_clears_the_note_and_the_notice_is_in_the_readers_language(web):
    photo_id = _filed(web)
    client = page_client(web, "admin", language="ru")
    sent = _post(client, photo_id, room_hint="", reason=REASON)
    assert sent.status_code == 303, sent.text
    assert _room_of(web, photo_id) is None
    page = html.unescape(client.get(sent.headers["location"]).text)
    ru = CATALOGUES["ru"]
    assert ru["room_form.corrected"].format(n=1, room=ru["room_form.none"]) in page


@pytest.mark.parametrize("reason", ["", " \r\n\t ", "x" * (ROOM_REASON_MAX_CHARS + 1)])
def test_a_refused_reason_shows_the_form_again_with_what_was_chosen_and_typed(web, reason):
    photo_id = _filed(web)
    client = page_client(web, "inspector")
    sent = _post(client, photo_id, room_hint="bathroom", reason=reason)
    assert sent.status_code == 422, sent.text
    page = html.unescape(sent.text)
    why = "reason_too_long" if reason.strip() else "reason_empty"
    error = EN[f"room_form.{why}"].format(n=f"{ROOM_REASON_MAX_CHARS:,}")
    assert f'id="room-error-{photo_id}">{EN["room_form.refused"]} {error}</p>' in page
    assert f'<details class="room-correct" id="room-correct-{photo_id}" open>' in page
    assert _selected(page, photo_id) == "bathroom"
    assert _typed(page, photo_id) == reason  # as sent: the page parses a CRLF as one break
    assert 'aria-invalid="true"' in page.split(f'id="room-reason-{photo_id}"')[1].split(">")[0]
    assert _room_of(web, photo_id) == "kitchen" and not audit_entries(web, ACTION)
    assert not _kept(web)


def test_an_unknown_room_is_refused_and_the_typed_reason_kept(web):
    photo_id = _filed(web)
    sent = _post(page_client(web, "inspector"), photo_id, room_hint="attic", reason=REASON)
    assert sent.status_code == 422, sent.text
    page = html.unescape(sent.text)
    assert f"{EN['room_form.refused']} {EN['room_form.unknown_room']}" in page
    assert _selected(page, photo_id) == "kitchen"  # the note as filed, no room of the list
    assert _typed(page, photo_id) == REASON
    assert _room_of(web, photo_id) == "kitchen" and not audit_entries(web, ACTION)
    assert not _kept(web)


def test_another_inspector_posting_is_refused(web):
    photo_id = _filed(web)
    sent = _post(
        page_client(web, _other_inspector(web)), photo_id, room_hint="bathroom", reason=REASON
    )
    assert sent.status_code == 403, sent.text
    assert "only the inspector who uploaded photo" in html.unescape(sent.text)
    assert _room_of(web, photo_id) == "kitchen" and not audit_entries(web, ACTION)
    assert not _kept(web)


def test_the_commission_posting_is_refused(web):
    photo_id = _filed(web)
    sent = _post(page_client(web, "commission"), photo_id, room_hint="bathroom", reason=REASON)
    assert sent.status_code == 403, sent.text
    assert _room_of(web, photo_id) == "kitchen" and not audit_entries(web, ACTION)
    assert not _kept(web)


def test_a_photo_outside_the_region_or_the_family_is_not_found(web):
    photo_id = _filed(web)
    web.create_family("F9", region=OTHER_REGION)
    web.create_family("F2")
    other = page_client(web, "inspector_other")
    token = csrf_from(other.get("/ui/upload").text)
    for who, client, family_id, said in [
        ("inspector_other", other, "F1", "no family 'F1' in your region"),
        # The photo, under a family of the caller's region.
        ("inspector_other", other, "F9", f"no photo {photo_id} in your region"),
        (
            "inspector", page_client(web, "inspector"), "F2",
            f"no photo {photo_id} of family 'F2' in your region",
        ),
    ]:  # fmt: skip
        if who == "inspector":
            token = csrf_from(client.get("/ui/families/F1").text)
        sent = client.post(
            _action(photo_id, family_id),
            data={"csrf_token": token, "room_hint": "bathroom", "reason": REASON},
            follow_redirects=False,
        )
        assert sent.status_code == 404, (who, family_id, sent.text)
        assert said in html.unescape(sent.text)
    assert _room_of(web, photo_id) == "kitchen" and not audit_entries(web, ACTION)
    assert not _kept(web)


def test_a_post_without_the_session_token_is_refused(web):
    photo_id = _filed(web)
    client = page_client(web, "inspector")
    sent = client.post(
        _action(photo_id), data={"room_hint": "bathroom", "reason": REASON},
        follow_redirects=False,
    )  # fmt: skip
    assert sent.status_code == 403, sent.text
    assert EN["error_reason.csrf_failed"] in html.unescape(sent.text)
    assert _room_of(web, photo_id) == "kitchen" and not audit_entries(web, ACTION)
    assert not _kept(web)


def test_the_note_the_photo_has_is_audited_unchanged(web):
    photo_id = _filed(web)
    client = page_client(web, "inspector")
    sent = _post(client, photo_id, room_hint="kitchen", reason=REASON)
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"].startswith(f"/ui/families/F1?room_unchanged={photo_id}#")
    assert _room_of(web, photo_id) == "kitchen"
    (entry,) = audit_entries(web, ACTION)
    assert entry.details["unchanged"] is True
    assert entry.details["previous_room_hint"] == entry.details["room_hint"] == "kitchen"
    (kept,) = _kept(web)
    assert entry.details["correction_id"] == kept.id and kept.unchanged is True
    assert entry.details["reason_sha256"] == reason_sha256(REASON) == reason_sha256(kept.reason)
    page = html.unescape(client.get(sent.headers["location"]).text)
    assert EN["room_form.unchanged"].format(n=1, room=EN["room.kitchen"]) in page
