"""The upload page under odd posts (review 16).

What an inspector's phone, an old browser or a hand-made request can send: no photo or a
photo under another field name, empty and fake files, a room outside the taxonomy, a form
without its token, a family of another region. Each is refused in the reader's words and
nothing is stored; the page shown again keeps the family and the room chosen, and every page
shown is audited. A body over the limit: test_upload_review16.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from serving.web.i18n import load_catalogues
from tests.serving.helpers import (
    OTHER_REGION,
    audit_entries,
    jpeg,
    nothing_filed,
    photo_rows,
    stored_files,
)
from tests.web.helpers import ERROR_CARD, MULTIPART_HEADERS, csrf_from, multipart_body
from vision.io import accepted_format_names

RU = load_catalogues()["ru"]


def _russian(client: Any) -> Any:
    client.cookies.set("shanyraq_lang", "ru", path="/ui")
    return client


def _selected(page: str, field: str) -> list[str]:
    """The values marked selected in the page's <select name=field>."""
    select_ = re.search(rf'<select[^>]*name="{field}".*?</select>', page, re.S)
    assert select_, f"the page has no {field} field"
    return re.findall(r'<option value="([^"]*)" selected>', select_.group(0))


# --- the page shown again after a post --------------------------------------------------


def test_the_page_shown_again_keeps_the_family_and_the_room(web, browser_for):
    web.create_family("F1")
    web.create_family("F2")
    inspector = browser_for("inspector")
    token = csrf_from(inspector.get("/ui/upload").text)
    answer = inspector.post(
        "/ui/upload",
        data={"csrf_token": token, "family_id": "F2", "room_hint": "bathroom"},
        files=[("files", ("a.jpg", jpeg(1), "image/jpeg"))],
    )
    assert answer.status_code == 200
    assert _selected(answer.text, "family_id") == ["F2"]
    assert _selected(answer.text, "room_hint") == ["bathroom"]
    # A room outside the taxonomy is no choice of the list: nothing is marked, nothing filed.
    refused = inspector.post(
        "/ui/upload",
        data={"csrf_token": token, "family_id": "F2", "room_hint": "garage"},
        files=[("files", ("b.jpg", jpeg(2), "image/jpeg"))],
    )
    assert _selected(refused.text, "room_hint") == []
    assert photo_rows(web) == 1


def test_the_page_shown_after_a_post_is_audited_as_a_view_and_each_photo_once(web, browser_for):
    web.create_family("F1")
    inspector = browser_for("inspector")
    token = csrf_from(inspector.get("/ui/upload").text)
    assert len(audit_entries(web, "page_viewed")) == 1
    photos = [("files", (f"p{i}.jpg", jpeg(10 + i), "image/jpeg")) for i in range(2)]
    data = {"csrf_token": token, "family_id": "F1"}
    answer = inspector.post("/ui/upload", data=data, files=photos)
    assert answer.status_code == 200 and answer.text.count('<article class="result') == 2
    views = audit_entries(web, "page_viewed")
    assert len(views) == 2 and views[-1].details == {"page": "upload"}
    assert views[-1].actor == "inspector"
    assert len(audit_entries(web, "photo_uploaded")) == 2
    assert photo_rows(web) == 2 and len(stored_files(web)) == 2
    # The script's fragment shows the photos' answers only (audited as uploads), no page.
    fragment = inspector.post(
        "/ui/upload",
        data={"csrf_token": token, "family_id": "F1"},
        files=[("files", ("p9.jpg", jpeg(19), "image/jpeg"))],
        headers={"X-Requested-With": "fetch"},
    )
    assert "<html" not in fragment.text
    assert len(audit_entries(web, "page_viewed")) == 2
    assert len(audit_entries(web, "photo_uploaded")) == 3


# --- a form without a photo ---------------------------------------------------------------


@pytest.mark.parametrize(
    "files",
    [
        pytest.param([], id="no-file-part"),
        pytest.param([("file", "a.jpg", jpeg(1))], id="another-field-name"),
        # What a browser sends for a file field left empty: a part with no name and no bytes.
        pytest.param([("files", "", b"")], id="nothing-chosen"),
    ],
)
def test_a_form_without_a_photo_shows_the_page_again_saying_so(web, browser_for, files):
    web.create_family("F1")
    inspector = _russian(browser_for("inspector"))
    token = csrf_from(inspector.get("/ui/upload").text)
    fields = {"csrf_token": token, "family_id": "F1", "room_hint": "kitchen"}
    answer = inspector.post(
        "/ui/upload", content=multipart_body(fields, files), headers=MULTIPART_HEADERS
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    # The upload page again, with the fault named in the reader's words right under its
    # title (where the page's script reads an error page's reason) and at the field.
    error = re.search(r"<h1>[^<]*</h1>\s*<p([^>]*)>([^<]*)</p>", answer.text)
    assert error and error.group(2) == RU["upload.no_photos"]
    assert 'role="alert"' in error.group(1)
    field = re.search(r'<input id="files"[^>]*>', answer.text)
    assert field and 'aria-invalid="true"' in field.group(0)
    assert _selected(answer.text, "family_id") == ["F1"]
    assert _selected(answer.text, "room_hint") == ["kitchen"]
    assert nothing_filed(web)
    assert csrf_from(answer.text) == token  # the form can be sent again as it is


def test_a_form_without_a_photo_for_another_regions_family_is_not_found(web, browser_for):
    web.create_family("F9", region=OTHER_REGION)
    inspector = browser_for("inspector")
    token = csrf_from(inspector.get("/ui/upload").text)
    for family_id in ("F9", "F404"):  # the region is checked first: no existence leak
        answer = inspector.post("/ui/upload", data={"csrf_token": token, "family_id": family_id})
        assert answer.status_code == 404, family_id
    assert not audit_entries(web, "photo_uploaded")


# --- photos refused by content --------------------------------------------------------------


def test_refused_files_are_named_in_the_readers_words_and_nothing_is_stored(web, browser_for):
    web.create_family("F1")
    inspector = _russian(browser_for("inspector"))
    token = csrf_from(inspector.get("/ui/upload").text)
    files = [
        ("files", ("empty.jpg", b"", "image/jpeg")),
        ("files", ("notes.jpg", b"these are notes, not a photo", "image/jpeg")),
        ("files", ("cut.jpg", jpeg(1)[:400], "image/jpeg")),
    ]
    answer = inspector.post(
        "/ui/upload", data={"csrf_token": token, "family_id": "F1"}, files=files
    )
    assert answer.status_code == 200
    cards = [c.strip() for c in ERROR_CARD.findall(answer.text)]
    assert cards[0] == RU["upload_error.image_empty"]
    names = accepted_format_names()
    formats = ", ".join(names[:-1]) + " или " + names[-1]
    assert cards[1] == RU["upload_error.image_unsupported_format"].format(formats=formats)
    assert cards[2] in (RU["upload_error.image_corrupt"], RU["upload_error.image_invalid"])
    assert all("notes" not in c and "photo" not in c for c in cards)  # no English detail
    assert nothing_filed(web)


def test_a_room_outside_the_taxonomy_files_nothing(web, browser_for):
    web.create_family("F1")
    inspector = _russian(browser_for("inspector"))
    token = csrf_from(inspector.get("/ui/upload").text)
    photo = [("files", ("a.jpg", jpeg(1), "image/jpeg"))]
    unknown = inspector.post(
        "/ui/upload", data={"csrf_token": token, "family_id": "F1", "room_hint": "garage"},
        files=photo,
    )  # fmt: skip
    assert [c.strip() for c in ERROR_CARD.findall(unknown.text)] == [
        RU["upload_error.record_invalid"]
    ]
    huge = inspector.post(
        "/ui/upload", data={"csrf_token": token, "family_id": "F1", "room_hint": "k" * 100_000},
        files=photo,
    )  # fmt: skip
    assert huge.status_code == 422 and '<html lang="ru">' in huge.text
    assert RU["error_title.422"] in huge.text and "k" * 33 not in huge.text
    assert nothing_filed(web)


# --- who may post, and the form's token ---------------------------------------------------


@pytest.mark.parametrize("token", ["", "0" * 64, "another session's"], ids=["none", "wrong", "old"])
def test_a_post_without_this_sessions_token_files_nothing(web, browser_for, token):
    web.create_family("F1")
    inspector = _russian(browser_for("inspector"))
    if token == "another session's":
        token = csrf_from(browser_for("inspector").get("/ui/upload").text)
    data = {"family_id": "F1", **({"csrf_token": token} if token else {})}
    answer = inspector.post(
        "/ui/upload", data=data, files=[("files", ("a.jpg", jpeg(1), "image/jpeg"))]
    )
    assert answer.status_code == 403 and RU["error_reason.csrf_failed"] in answer.text
    assert nothing_filed(web)


@pytest.mark.parametrize("who", ["annotator", "commission"])
def test_roles_that_do_not_upload_are_refused_for_any_family(web, browser_for, who):
    web.create_family("F1")
    web.create_family("F9", region=OTHER_REGION)
    reader = browser_for(who)
    assert reader.get("/ui/upload").status_code == 403
    token = csrf_from(reader.get("/ui/").text)  # a page they may open
    for family_id in ("F1", "F9", "F404"):
        answer = reader.post(
            "/ui/upload", data={"csrf_token": token, "family_id": family_id},
            files=[("files", ("a.jpg", jpeg(1), "image/jpeg"))],
        )  # fmt: skip
        assert answer.status_code == 403, family_id
        assert family_id not in answer.text  # the same refusal whether it exists or not
    assert nothing_filed(web)


@pytest.mark.parametrize("who", ["inspector_other", "admin"])
def test_another_regions_family_is_not_found_as_a_family_that_does_not_exist(web, browser_for, who):
    web.create_family("F1")
    web.create_family("F9", region=OTHER_REGION)
    target = "F1" if who == "inspector_other" else "F9"
    uploader = browser_for(who)
    token = csrf_from(uploader.get("/ui/upload").text)

    def post(family_id: str) -> Any:
        return uploader.post(
            "/ui/upload", data={"csrf_token": token, "family_id": family_id},
            files=[("files", ("a.jpg", jpeg(1), "image/jpeg"))],
        )  # fmt: skip

    existing, missing = post(target), post("F404")
    assert existing.status_code == missing.status_code == 404
    assert _clock_free(existing.text.replace(target, "F404")) == _clock_free(
        missing.text.replace(csrf_from(missing.text), csrf_from(existing.text))
    )
    assert nothing_filed(web)


def _clock_free(page: str) -> str:
    """The page without its session clock's seconds left, which differ by one when the two
    answers fall on either side of a second (the one flake of a clean run)."""
    return re.sub(r'data-ends-in="\d+"', 'data-ends-in=""', page)
