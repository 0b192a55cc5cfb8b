"""A room correction's reason is kept whole with the correction (room_corrections), as a
decision's is: every character a validated reason holds but NUL, its line breaks as LF
whichever way they were sent; its audit entry pins it by `reason_sha256`, so the audit page
shows the hash, not the words, and no detail after it is lost."""

from __future__ import annotations

import html
import re
from typing import Any

from sqlalchemy import select

from serving import audit
from serving.core.reason_chars import ReasonChars
from serving.db.models import RoomCorrection
from serving.decisions import reason_sha256
from tests.serving.helpers import Service, audit_entries, jpeg
from tests.web.helpers import csrf_from, page_client

# The shipped limit the test services run with (configs/serving.yaml reason_chars).
ROOM_REASON_MAX_CHARS = ReasonChars().room_correction_max

ACTION = "photo_room_corrected"
# The first lines of a reason that fills the limit: line breaks, a NUL, a bidi override and
# markup, each of which the entry and the page must keep as what it is.
HEAD = "Chose kitchen by mistake.\nThe photo shows the bath\x00room <b>tiles</b>.\n\u202eevil\n"
FILLER = "The inspector noted the room in a hurry at the visit. " * 10


def _full_reason(line_break: str = "\n") -> str:
    """A reason of exactly ROOM_REASON_MAX_CHARS characters once its line breaks are one
    character each (as the page form counts them), written with `line_break`."""
    words = HEAD + FILLER[: ROOM_REASON_MAX_CHARS - len(HEAD) - 3] + "END"
    assert len(words) == ROOM_REASON_MAX_CHARS
    return words.replace("\n", line_break)


# The reason as the correction must keep it: whole, line breaks as LF, without its NUL.
STORED = _full_reason().replace("\x00", "")


def _filed(service: Service) -> int:
    service.create_family("F1")
    response = service.upload("F1", jpeg(91), data={"room_hint": "kitchen"})
    assert response.status_code == 201, response.text
    return int(response.json()["photo_id"])


def _corrected_by_the_api(service: Service) -> None:
    """A photo filed for F1, its note corrected through the API with the full reason."""
    photo_id = _filed(service)
    response = service.client.put(
        f"/families/F1/photos/{photo_id}/room", headers=service.headers("inspector"),
        json={"room_hint": "bathroom", "reason": _full_reason()},
    )  # fmt: skip
    assert response.status_code == 200, response.text


def _kept_reason(service: Service) -> Any:
    """The reason the one correction keeps, checked against its audit entry's hash."""
    with service.services.sessions() as session:
        (kept,) = session.execute(select(RoomCorrection)).scalars()
    (entry,) = audit_entries(service, ACTION)
    assert entry.details["correction_id"] == kept.id
    assert entry.details["reason_sha256"] == reason_sha256(kept.reason)
    assert "reason" not in entry.details  # the words stay out of the log
    return kept.reason


def _chain_holds(service: Service) -> bool:
    with service.services.sessions() as session:
        return audit.verify(session, service.services.signing_key).ok


def test_a_full_reason_with_line_breaks_is_kept_whole_by_the_api(service):
    _corrected_by_the_api(service)
    reason = _kept_reason(service)
    assert reason == STORED
    assert reason.count("\n") == 3 and reason.endswith("END") and "\u202e" in reason
    assert _chain_holds(service)


def test_a_full_reason_from_the_page_form_is_kept_whole(service):
    photo_id = _filed(service)
    client = page_client(service, "inspector")
    token = csrf_from(client.get("/ui/families/F1").text)
    sent = client.post(
        f"/ui/families/F1/photos/{photo_id}/room", follow_redirects=False,
        data={"csrf_token": token, "room_hint": "bathroom", "reason": _full_reason("\r\n")},
    )  # fmt: skip
    assert sent.status_code == 303, sent.text
    assert _kept_reason(service) == STORED  # a browser's CRLF filed as one line break
    assert _chain_holds(service)


def test_the_audit_page_shows_the_reasons_hash_not_its_words(service):
    _corrected_by_the_api(service)
    page = page_client(service, "admin_national").get(f"/ui/audit?action={ACTION}")
    assert page.status_code == 200, page.text
    details = re.search(r'<td class="details">(.*?)</td>', page.text, re.S)
    assert details, "the page shows no entry's details"
    shown = re.findall(
        r'<code lang="en" translate="no">(\w+)</code>=(.*?)</span>', details[1], re.S
    )
    # Every detail, in order: the reason's hash, not its words.
    assert [key for key, _ in shown] == [
        "correction_id", "family_id", "previous_room_hint", "reason_sha256", "room_hint",
        "sha256",
    ]  # fmt: skip
    assert html.unescape(dict(shown)["reason_sha256"]) == reason_sha256(STORED)
    assert dict(shown)["room_hint"] == "bathroom"
    assert "tiles" not in page.text and "inspector noted the room" not in page.text


def test_a_value_a_request_sent_is_still_escaped_and_cut_after_escaping():
    assert audit.printable("a\nb\x00c", 6) == "a\\nb\\x"


def test_a_reason_sent_with_crlf_through_the_api_is_stored_as_the_form_stores_it(service):
    """An API client's CRLF line breaks are filed as one LF each, as the page form's are: the
    same words make the same entry whichever way they came, with no escaped CR in it."""
    photo_id = _filed(service)
    response = service.client.put(
        f"/families/F1/photos/{photo_id}/room", headers=service.headers("inspector"),
        json={"room_hint": "bathroom", "reason": "first line\r\nsecond line"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert _kept_reason(service) == "first line\nsecond line"
    assert _chain_holds(service)
