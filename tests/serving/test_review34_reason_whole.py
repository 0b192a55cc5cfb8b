"""A room correction's reason is kept whole in its audit entry, the correction's only record:
every character a validated reason holds, its line breaks kept as line breaks, every other
unprintable character escaped (so the escapes may make it longer than the limit the person
typed to); and the audit page shows it as stored, markup escaped, no detail after it lost."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from serving import audit
from serving.photo_room import ROOM_REASON_MAX_CHARS
from tests.serving.helpers import Service, audit_entries, jpeg
from tests.web.helpers import csrf_from, page_client

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


# The reason as the audit entry must keep it: whole, line breaks as they are, the rest escaped.
STORED = _full_reason().replace("\x00", "\\x00").replace("\u202e", "\\u202e")


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


def _entry_reason(service: Service) -> Any:
    (entry,) = audit_entries(service, ACTION)
    return entry.details["reason"]


def _chain_holds(service: Service) -> bool:
    with service.services.sessions() as session:
        return audit.verify(session, service.services.signing_key).ok


def test_a_full_reason_with_line_breaks_is_kept_whole_by_the_api(service):
    _corrected_by_the_api(service)
    reason = _entry_reason(service)
    assert reason == STORED
    assert reason.count("\n") == 3 and reason.endswith("END")
    assert len(reason) > ROOM_REASON_MAX_CHARS  # the escapes lengthened it; nothing was cut
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
    assert _entry_reason(service) == STORED  # a browser's CRLF filed as one line break
    assert _chain_holds(service)


def test_the_audit_page_shows_the_reason_as_stored(service):
    _corrected_by_the_api(service)
    page = page_client(service, "admin_national").get(f"/ui/audit?action={ACTION}")
    assert page.status_code == 200, page.text
    details = re.search(r'<td class="details">(.*?)</td>', page.text, re.S)
    assert details, "the page shows no entry's details"
    shown = re.findall(
        r'<code lang="en" translate="no">(\w+)</code>=(.*?)</span>', details[1], re.S
    )
    # Every detail, in order: a line break in the reason ends nothing and hides nothing.
    assert [key for key, _ in shown] == [
        "family_id", "previous_room_hint", "reason", "room_hint", "sha256",
    ]  # fmt: skip
    reason = dict(shown)["reason"]
    assert "<b>" not in reason and "&lt;b&gt;tiles&lt;/b&gt;" in reason  # markup as text
    assert html.unescape(reason) == STORED
    assert dict(shown)["room_hint"] == "bathroom"


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("one\ntwo", "one\ntwo"),
        ("nul\x00tab\tcr\rend", "nul\\x00tab\\tcr\\rend"),
        ("\u202eevil\u2028line\x85", "\\u202eevil\\u2028line\\x85"),
        ("\n\n", "\n\n"),
    ],
    ids=["line-break", "control", "bidi-and-unicode-breaks", "only-breaks"],
)
def test_a_reason_keeps_its_line_breaks_and_escapes_the_rest(typed, kept):
    assert audit.reason_text(typed, 500) == kept


def test_a_reason_is_limited_as_typed_not_as_escaped():
    typed = "\x00" * 10
    assert audit.reason_text(typed, 10) == "\\x00" * 10  # whole: the limit counts what was typed
    assert audit.reason_text(typed + "beyond", 10) == "\\x00" * 10  # a longer one is cut


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
    assert _entry_reason(service) == "first line\nsecond line"
    assert _chain_holds(service)
