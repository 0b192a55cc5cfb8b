"""Review of the family page for human oversight (helper-192): a probability beside a
threshold is not rounded onto it, and a photo the assessment leaves out says so and why."""

from __future__ import annotations

import html
import re
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from serving.db.models import Assessment, Photo
from serving.db.session import session_scope
from tests.serving.helpers import PASSWORD, Service, jpeg
from tests.web.helpers import sign_in
from vision.score import PhotoScore

NBSP = "\u00a0"

# `web`: tests/serving/conftest.py's app with the small real fusion model.


def _browser(web: Service, username: str) -> TestClient:
    client = TestClient(web.app, base_url="http://127.0.0.1")
    answer = sign_in(client, username, PASSWORD)
    assert answer.status_code == 303, answer.text
    return client


def _set_latest(web: Service, family_id: str, **result: Any) -> None:
    """Change the stored latest assessment's result (its inputs unchanged: shown as stored)."""
    with session_scope(web.services.sessions) as session:
        row = session.execute(
            select(Assessment)
            .where(Assessment.family_id == family_id)
            .order_by(Assessment.id.desc())
        ).scalar()
        assert row is not None
        row.result = {**row.result, **result}
        if "asp" in result:
            row.asp = result["asp"]


# --- a probability beside a threshold ---------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "status", "en", "ru"),
    [
        (0.696, "needs_review", "69.6%", f"69,6{NBSP}%"),
        (0.0996, "not_eligible", "9.96%", f"9,96{NBSP}%"),
        (0.456, "needs_review", "46%", f"46{NBSP}%"),
    ],
)
def test_a_probability_near_a_threshold_is_not_shown_on_it(web, p, status, en, ru):
    web.create_family("F1")
    commission = _browser(web, "commission")
    assert commission.get("/ui/families/F1").status_code == 200  # assessed and stored
    _set_latest(web, "F1", asp_probability=p, asp=status)
    page = commission.get("/ui/families/F1?lang=en").text
    assert f"Probability of eligibility: {en}" in page
    families = commission.get("/ui/families?lang=en").text
    assert f"Probability of eligibility: {en}" in families  # the list too, in the same words
    page = commission.get("/ui/families/F1?lang=ru").text
    assert f"Вероятность права на АСП: {ru}" in page


# --- photos the assessment leaves out ---------------------------------------------------------


def _score(sha: str) -> dict[str, Any]:
    return PhotoScore(
        photo_sha256=sha,
        model_version="photo-test",
        room={"kitchen": 0.9, "bathroom": 0.02, "bedroom": 0.02, "living_room": 0.02,
              "exterior": 0.02, "not_dwelling": 0.02},
        condition={1: 0.05, 2: 0.7, 3: 0.15, 4: 0.05, 5: 0.05},
        signs={"damp_mould": 0.83},
        embedding=np.zeros(4, dtype=np.float32),
    ).to_dict()  # fmt: skip


def _score_photos(web: Service, family_id: str, *, quality: dict[str, Any] | None = None) -> None:
    """Give the family's photos a usable (not abstaining) score, and `quality` if given."""
    with session_scope(web.services.sessions) as session:
        for photo in session.execute(select(Photo).where(Photo.family_id == family_id)).scalars():
            photo.score = _score(photo.sha256)
            photo.model_version = "photo-test"
            if quality is not None:
                photo.quality = quality


def _not_used_note(page: str) -> list[str]:
    found = re.findall(r'<p class="warn-text">(The system does not use[^<]*)</p>', page)
    return [html.unescape(note) for note in found]


def test_a_usable_photo_has_no_not_used_note(web):
    web.create_family("F1")
    assert web.upload("F1", jpeg(1)).status_code == 201
    _score_photos(web, "F1")
    page = _browser(web, "commission").get("/ui/families/F1?lang=en").text
    assert "Visible signs" in page and "83%" in page  # its scores are shown
    assert _not_used_note(page) == []


def test_a_reused_photo_says_the_assessment_does_not_use_its_scores(web):
    web.create_family("F1")
    web.create_family("F2")
    photo = jpeg(7)
    assert web.upload("F2", photo).status_code == 201
    assert web.upload("F1", photo).status_code == 201  # filed, flagged as reused
    _score_photos(web, "F1")
    commission = _browser(web, "commission")
    page = commission.get("/ui/families/F1?lang=en").text
    assert "A near-identical photo was filed for 1 other family(ies)." in page
    assert _not_used_note(page) == ["The system does not use this photo's scores: reused photo"]
    ru = commission.get("/ui/families/F1?lang=ru").text
    assert "reused photo" not in ru  # the reason in Russian too


def test_a_failed_photo_scored_without_abstaining_says_it_is_not_used(web):
    web.create_family("F1")
    assert web.upload("F1", jpeg(2)).status_code == 201
    failed = {"status": "fail", "reasons": ["blur"], "retake_hint": "Hold the camera still."}
    _score_photos(web, "F1", quality=failed)
    page = _browser(web, "commission").get("/ui/families/F1?lang=en").text
    assert _not_used_note(page) == [
        "The system does not use this photo's scores: the photo failed the quality check"
    ]
