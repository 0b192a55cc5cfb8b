"""An upload that repeats a photo the family already filed is told so in the upload's answer.

The assessment counts a family's photo sent again re-encoded, resized or as a screenshot once
(`repeated`), but the upload's answer said nothing: the inspector took two photos of one room
for two and did not photograph the other room the family needs. The answer now names the
filed photos it repeats (`repeat_of`: id and the family page's number), found by the search
the assessment runs; the photo is filed all the same, and the audit entry names them too.
The upload page's result card tells it in the reader's words.
"""

from __future__ import annotations

import html
import re
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serving.photo_evidence import REPEATED_KEY
from serving.web.i18n import translator
from tests.serving.helpers import PASSWORD
from tests.serving.repeat_helpers import audited_details, upload_answer
from tests.serving.repeat_photos import COPIES, decoded, encoded
from tests.vision.reuse_helpers import look_alike
from tests.web.helpers import csrf_from, sign_in


@pytest.mark.parametrize("copy", sorted(COPIES))
def test_an_upload_repeating_a_filed_photo_is_told_filed_and_audited(scored, room, copy):
    scored.create_family("F1")
    first = upload_answer(scored, "F1", room)
    other = upload_answer(scored, "F1", encoded(look_alike(6)))  # another photo of the home
    again = upload_answer(scored, "F1", COPIES[copy](room))  # filed: 201, a photo of its own
    assert first["repeat_of"] == [] and other["repeat_of"] == []
    assert again["repeat_of"] == [{"photo_id": first["photo_id"], "number": 1}]
    assert again["reuse"]["reused"] is False and again["duplicate"] is False
    # The assessment flags the very photo the answer named a repeat.
    made = scored.assess("F1")
    assert made["model_versions"][REPEATED_KEY] == str(again["photo_id"])
    audited = audited_details(scored, "photo_uploaded")
    assert audited[f"photo:{again['photo_id']}"]["repeat_of"] == [first["photo_id"]]
    assert audited[f"photo:{first['photo_id']}"]["repeat_of"] == []


def test_the_answer_names_the_photo_that_counts_by_its_number(scored, room):
    """A failed photo of the view counts for nothing: the retake is the one that counts
    (photo 2), and a later copy repeats it, not the failed one."""
    scored.create_family("F1")
    dark = (decoded(room) * 0.08).astype(np.uint8)
    failed = upload_answer(scored, "F1", encoded(dark))
    assert failed["quality"]["status"] == "fail" and failed["repeat_of"] == []
    retake = upload_answer(scored, "F1", room)
    assert retake["repeat_of"] == []  # as the assessment: a retake after a failed photo is used
    again = upload_answer(scored, "F1", COPIES["resized"](room))
    assert again["repeat_of"] == [{"photo_id": retake["photo_id"], "number": 2}]
    made = scored.assess("F1")
    assert made["model_versions"][REPEATED_KEY] == str(again["photo_id"])


def test_the_same_bytes_sent_again_are_told_as_the_filed_photo_is(scored, room):
    """A resend of the repeat (200, already filed) names what the filed photo repeats; a
    resend of the photo that counts names nothing. Both are audited with it."""
    scored.create_family("F1")
    first = upload_answer(scored, "F1", room)
    copy = COPIES["re-encoded"](room)
    again = upload_answer(scored, "F1", copy)
    resent = upload_answer(scored, "F1", copy, status=200)
    assert resent["duplicate"] is True and resent["photo_id"] == again["photo_id"]
    told = [{"photo_id": first["photo_id"], "number": 1}]
    assert resent["repeat_of"] == again["repeat_of"] == told
    first_again = upload_answer(scored, "F1", room, status=200)
    assert first_again["duplicate"] is True and first_again["repeat_of"] == []
    audited = audited_details(scored, "photo_upload_duplicate")
    assert audited[f"photo:{again['photo_id']}"]["repeat_of"] == [first["photo_id"]]
    assert audited[f"photo:{first['photo_id']}"]["repeat_of"] == []


def test_another_familys_photo_is_reuse_and_no_repeat(scored, room):
    """The same photo filed for another family is reuse (counted for neither); a copy of it
    sent to that family again repeats nothing that counts."""
    scored.create_family("F1")
    scored.create_family("F2")
    upload_answer(scored, "F1", room)
    copied = upload_answer(scored, "F2", COPIES["re-encoded"](room))
    assert copied["reuse"]["reused"] is True and copied["repeat_of"] == []
    again = upload_answer(scored, "F2", COPIES["screenshot"](room))
    assert again["reuse"]["reused"] is True and again["repeat_of"] == []
    assert scored.assess("F2")["model_versions"][REPEATED_KEY] == ""


def test_an_idempotent_retry_answers_the_repeat_as_first_told(scored, room):
    scored.create_family("F1")
    first = upload_answer(scored, "F1", room)
    copy = COPIES["screenshot"](room)
    key = {"headers": {"Idempotency-Key": "phone-7"}}
    told = scored.upload("F1", copy, **key)
    retried = scored.upload("F1", copy, **key)
    assert told.status_code == retried.status_code == 201, retried.text
    assert retried.json()["repeat_of"] == [{"photo_id": first["photo_id"], "number": 1}]


def test_the_repeat_field_is_documented_and_the_answer_conforms(scored, room):
    from jsonschema import Draft202012Validator

    spec = scored.app.openapi()
    schemas = spec["components"]["schemas"]
    field = schemas["UploadOut"]["properties"]["repeat_of"]
    assert "counts once" in field["description"] and "`repeated`" in field["description"]
    assert all(p.get("description") for p in schemas["RepeatOf"]["properties"].values())
    scored.create_family("F1")
    upload_answer(scored, "F1", room)
    again = upload_answer(scored, "F1", COPIES["re-encoded"](room))
    assert again["repeat_of"]
    root = {"$ref": "#/components/schemas/UploadOut", "components": spec["components"]}
    Draft202012Validator(root).validate(again)


CARD = re.compile(r'<article class="result[^"]*" data-outcome="([^"]*)"[^>]*>(.*?)</article>', re.S)


def _cards(client: Any, lang: str, *photos: tuple[str, bytes]) -> list[tuple[str, str]]:
    """The result cards (outcome, text) of one post of the upload page's form, in `lang`."""
    client.cookies.set("shanyraq_lang", lang, path="/ui")
    token = csrf_from(client.get("/ui/upload").text)
    answer = client.post(
        "/ui/upload",
        data={"csrf_token": token, "family_id": "F1"},
        files=[("files", (name, data, "image/jpeg")) for name, data in photos],
    )
    assert answer.status_code == 200, answer.text
    return [(outcome, html.unescape(card)) for outcome, card in CARD.findall(answer.text)]


def test_the_result_card_names_the_photo_repeated_in_the_readers_words(scored, room):
    scored.create_family("F1")
    client = TestClient(scored.app, base_url="http://127.0.0.1")
    assert sign_in(client, "inspector", PASSWORD).status_code == 303
    copy = COPIES["re-encoded"](room)
    (first, first_text), (again, again_text) = _cards(
        client, "en", ("kitchen.jpg", room), ("kitchen-again.jpg", copy)
    )
    told = translator("en")("upload.repeated", n=1)
    assert told != "upload.repeated" and "{" not in told
    assert told in again_text and told not in first_text
    assert first == again == "usable"  # filed: neither refused nor to retake
    # Sent again as it is (already filed), the card tells it too, in each language.
    for lang in ("ru", "kk"):
        t = translator(lang)
        [(outcome, text)] = _cards(client, lang, ("kitchen-again.jpg", copy))
        assert t("upload.duplicate") in text and outcome == "usable"
        assert t("upload.repeated", n=1) in text and t("upload.repeated", n=1) != told
