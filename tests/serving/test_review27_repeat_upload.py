"""One family's photo sent again with other bytes (re-encoded, resized, a screenshot) counts once.

Exact bytes sent again are answered as already filed; a copy with other bytes is filed as a
photo of its own. It was also counted as one: two photos of one damp wall weighed twice in the
family's visual features and in its usable photos. The service now flags the later one
`repeated` (the reuse index's candidate search and pixel verification, inside the family), and
the assessment leaves it out as evidence, counted among the photos not used, and no reuse.
"""

from __future__ import annotations

import html
import re
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from serving.api.deps import CurrentUser
from serving.db.models import ReuseLink, User
from serving.db.session import session_scope
from serving.photo_evidence import REPEATED_KEY
from serving.web.family_view import family_rows
from serving.web.i18n import translator
from tests.serving.helpers import PASSWORD, Service
from tests.serving.repeat_photos import COPIES, decoded, encoded
from tests.vision.reuse_helpers import look_alike
from tests.web.helpers import sign_in


def _filed(service: Service, family_id: str, data: bytes) -> dict[str, Any]:
    answer = service.upload(family_id, data)
    assert answer.status_code == 201, answer.text  # filed as a photo of its own
    body = answer.json()
    assert body["score_status"] == "scored" and body["score"]["abstain"] is False, body
    return dict(body)


def _doubt_codes(made: dict[str, Any]) -> set[str]:
    return {d["code"] for d in made["result"]["review_statements"]}


@pytest.mark.parametrize("copy", sorted(COPIES))
def test_a_familys_photo_sent_again_as_a_copy_counts_once(scored, room, copy):
    scored.create_family("F1")
    first = _filed(scored, "F1", room)
    other = _filed(scored, "F1", encoded(look_alike(6)))  # another photo of the home
    again = _filed(scored, "F1", COPIES[copy](room))
    assert again["reuse"]["reused"] is False  # no fraud signal

    made = scored.assess("F1")
    photos = made["result"]["photos"]
    # Before: total 3, usable 3 - the copy weighed as a second photo of the same wall.
    assert (photos["total"], photos["usable"], photos["flagged"]) == (3, 2, 1)
    assert (photos["repeated"], photos["reused"]) == (1, 0)
    assert made["model_versions"][REPEATED_KEY] == str(again["photo_id"])  # what it rests on
    assert "doubt.reused_photos" not in _doubt_codes(made)
    with session_scope(scored.services.sessions) as session:  # no reuse link either
        assert session.execute(select(ReuseLink)).first() is None
    assert made["photo_ids"] == [first["photo_id"], other["photo_id"], again["photo_id"]]


def test_the_familys_page_names_the_repeat_in_the_readers_words(scored, room):
    scored.create_family("F1")
    _filed(scored, "F1", room)
    _filed(scored, "F1", COPIES["re-encoded"](room))
    client = TestClient(scored.app, base_url="http://127.0.0.1")
    assert sign_in(client, "commission", PASSWORD).status_code == 303
    for lang in ("en", "ru", "kk"):
        page = client.get(f"/ui/families/F1?lang={lang}")
        assert page.status_code == 200, page.text
        cards = [
            html.unescape(card)
            for card in re.findall(r'<figure class="photo".*?</figure>', page.text, re.S)
        ]
        t = translator(lang)
        reason = t.label("flag", "repeated")
        assert reason != "flag.repeated" and reason != "repeated", reason  # in the catalogue
        assert len(cards) == 2
        assert f"{t('photo.abstained')} {reason}" in cards[1], cards[1]
        assert t("photo.abstained") not in cards[0], cards[0]  # the first one is used


def test_a_retake_after_a_failed_photo_is_used(scored, room):
    """Only a photo that counts has repeats: the same view sent again after its first photo
    failed the quality check (here too dark) is the family's one usable photo of it."""
    scored.create_family("F1")
    dark = (decoded(room) * 0.08).astype(np.uint8)
    failed = scored.upload("F1", encoded(dark))
    assert failed.status_code == 201 and failed.json()["quality"]["status"] == "fail"
    retake = _filed(scored, "F1", COPIES["re-encoded"](room))
    made = scored.assess("F1")
    photos = made["result"]["photos"]
    assert (photos["usable"], photos["repeated"], photos["quality_failed"]) == (1, 0, 1)
    assert made["model_versions"][REPEATED_KEY] == "" and retake["photo_id"] in made["photo_ids"]


def test_the_same_photo_for_another_family_is_still_reuse_not_a_repeat(scored, room):
    scored.create_family("F1")
    scored.create_family("F2")
    _filed(scored, "F1", room)
    copied = _filed(scored, "F2", COPIES["re-encoded"](room))
    assert copied["reuse"]["reused"] is True
    for family_id in ("F1", "F2"):
        photos = scored.assess(family_id)["result"]["photos"]
        assert (photos["reused"], photos["repeated"], photos["usable"]) == (1, 0, 0)


def test_the_family_list_counts_a_repeat_out_of_the_usable_photos(scored, room, edit_config):
    """With two usable photos required, a photo and its copy are missing photos in the list,
    as in the assessment's too-few-photos doubt."""
    from welfare.criteria import get_welfare_config

    edit_config("welfare.yaml", lambda d: d["recommendation"].update(min_usable_photos=2))
    assert get_welfare_config().recommendation.min_usable_photos == 2
    scored.create_family("F1")
    _filed(scored, "F1", room)
    _filed(scored, "F1", COPIES["resized"](room))
    assert "doubt.too_few_photos" in _doubt_codes(scored.assess("F1"))
    with session_scope(scored.services.sessions) as session:
        user = session.execute(select(User).where(User.username == "commission")).scalar_one()
        viewer = CurrentUser(id=user.id, username=user.username, role=user.role, region=user.region)
        rows = family_rows(session, scored.services, viewer).rows
    assert [(r.family_id, r.flags.missing_photos, r.flags.reused) for r in rows] == [
        ("F1", True, False)
    ]
