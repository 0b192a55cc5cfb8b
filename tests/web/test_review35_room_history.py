"""Where a person reads a photo's room corrections: on its card of the family page, to every
reader of the family (not only those who may correct it), newest first, each with who sent it,
when, the note before and after and the reason as kept (markup as text, line breaks as
breaks), in the reader's language; an unchanged request marked as such."""

from __future__ import annotations

import html
import re
from typing import Any

from serving.web.i18n import load_catalogues
from tests.serving.helpers import Service, jpeg
from tests.web.helpers import csrf_from, page_client

CATALOGUES = load_catalogues()
EN = CATALOGUES["en"]


def _filed(web: Service) -> int:
    web.create_family("F1")
    response = web.upload("F1", jpeg(91), data={"room_hint": "kitchen"})
    assert response.status_code == 201, response.text
    return int(response.json()["photo_id"])


def _by_the_api(web: Service, photo_id: int, room: str | None, reason: str) -> None:
    sent = web.client.put(
        f"/families/F1/photos/{photo_id}/room", headers=web.headers("inspector"),
        json={"room_hint": room, "reason": reason},
    )  # fmt: skip
    assert sent.status_code == 200, sent.text


def _by_the_form(client: Any, photo_id: int, room: str, reason: str) -> None:
    token = csrf_from(client.get("/ui/families/F1").text)
    sent = client.post(
        f"/ui/families/F1/photos/{photo_id}/room", follow_redirects=False,
        data={"csrf_token": token, "room_hint": room, "reason": reason},
    )  # fmt: skip
    assert sent.status_code == 303, sent.text


def _rows(page: str, photo_id: int) -> list[list[str]]:
    """The cells of the card's corrections, row by row, as the page has them (markup kept)."""
    found = re.search(
        rf'<details class="room-history" id="room-history-{photo_id}"[^>]*>(.*?)</details>',
        page,
        re.S,
    )
    assert found, "the card shows no corrections"
    body = found.group(1).split("<tbody>")[1]
    return [
        [cell.strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_every_reader_sees_the_corrections_newest_first(web):
    photo_id = _filed(web)
    _by_the_api(web, photo_id, "bathroom", "Chose kitchen <b>by mistake</b>.\r\nSecond line.")
    _by_the_form(page_client(web, "admin"), photo_id, "", "The photo shows no room.")
    _by_the_api(web, photo_id, None, "Sent again.")
    page = page_client(web, "commission").get("/ui/families/F1")  # may not correct it
    assert page.status_code == 200, page.text
    assert 'id="room-correct-' not in page.text  # no form, the history all the same
    rows = _rows(page.text, photo_id)
    assert [row[1] for row in rows] == ["inspector", "admin", "inspector"]
    none, kitchen, bathroom = EN["room_form.none"], EN["room.kitchen"], EN["room.bathroom"]
    assert [html.unescape(row[2]) for row in rows] == [
        f'{none} → {none} <span class="sub">{EN["room_history.unchanged"]}</span>',
        f"{bathroom} → {none}",
        f"{kitchen} → {bathroom}",
    ]
    assert [row[3] for row in rows] == [
        "Sent again.",
        "The photo shows no room.",
        "Chose kitchen &lt;b&gt;by mistake&lt;/b&gt;.<br>Second line.",
    ]
    assert all(row[0] for row in rows)  # when, in the site's zone
    assert EN["room_history.title"].format(n=3) in page.text


def test_the_history_is_in_the_readers_language_and_opened_after_a_correction(web):
    photo_id = _filed(web)
    client = page_client(web, "inspector", language="ru")
    _by_the_form(client, photo_id, "bathroom", "Ошиблась при визите.")
    page = client.get(f"/ui/families/F1?room_corrected={photo_id}")
    assert page.status_code == 200, page.text
    ru = CATALOGUES["ru"]
    text = html.unescape(page.text)
    assert ru["room_history.title"].format(n=1) in text
    assert ru["room_history.reason"] in text and ru["room.bathroom"] in text
    assert f'<details class="room-history" id="room-history-{photo_id}" open>' in page.text
    assert _rows(page.text, photo_id)[0][3] == "Ошиблась при визите."


def test_a_photo_never_corrected_shows_no_history(web):
    _filed(web)
    page = page_client(web, "commission").get("/ui/families/F1")
    assert page.status_code == 200, page.text
    assert 'class="room-history"' not in page.text
