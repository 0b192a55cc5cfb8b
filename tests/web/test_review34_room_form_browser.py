"""The room note corrected from a photo's card in Chromium: the inspector who uploaded the
photo opens "Correct the room note", chooses a room, gives the reason and sends it; the page
comes back with the card headed by the new note and saying so. An empty reason is not sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from serving.web.i18n import load_catalogues
from tests.serving.helpers import family_body, jpeg
from tests.web import live
from tests.web.live_module import live_server, signed_in_page

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EN = load_catalogues()["en"]
FAMILY = "F-341"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    with live_server(tmp_path_factory.mktemp("room-form")) as running:
        inspector = running.api("inspector")
        assert inspector.post("/families", json=family_body(FAMILY)).status_code == 201
        filed = inspector.post(
            f"/families/{FAMILY}/photos", files={"file": ("p.jpg", jpeg(7))},
            data={"room_hint": "kitchen"},
        )  # fmt: skip
        assert filed.status_code == 201, filed.text
        running.seeded = {"photo_id": filed.json()["photo_id"]}
        yield running


@pytest.fixture
def family_page(browser: Any, server: live.LiveServer) -> Iterator[Any]:
    context = browser.new_context()
    page = signed_in_page(context, server, "inspector")
    page.goto(f"{server.url}/ui/families/{FAMILY}")
    yield page
    context.close()


def test_the_uploader_corrects_the_note_from_the_card(family_page, server):
    page, photo_id = family_page, server.seeded["photo_id"]
    heading = page.locator(f"#ph-{photo_id}")
    assert heading.inner_text() == EN["photo.heading_noted"].format(n=1, room=EN["room.kitchen"])
    page.get_by_text(EN["room_form.title"]).click()  # the <details> opens
    room, reason = (
        page.get_by_label(EN["room_form.room"]),
        page.get_by_label(EN["room_form.reason"]),
    )
    assert room.input_value() == "kitchen"  # the note as filed, chosen

    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    room.select_option("bathroom")
    page.get_by_role("button", name=EN["room_form.submit"]).click()
    assert page.evaluate(f"document.getElementById('room-reason-{photo_id}').validity.valueMissing")
    assert posts == []  # a required reason: the browser sends nothing without one

    reason.fill("Chose kitchen by mistake at the visit.")
    with page.expect_navigation():
        page.get_by_role("button", name=EN["room_form.submit"]).click()
    assert page.url.endswith(f"?room_corrected={photo_id}#room-noted-{photo_id}")
    assert heading.inner_text() == EN["photo.heading_noted"].format(n=1, room=EN["room.bathroom"])
    notice = page.locator(f"#room-noted-{photo_id}")
    assert notice.inner_text() == EN["room_form.corrected"].format(n=1, room=EN["room.bathroom"])
