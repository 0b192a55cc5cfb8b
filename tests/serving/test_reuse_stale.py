"""A photo filed again for another family sends the family that filed it first back to review.

Before reuse links, whether a photo was reused was asked of the reuse index only when an
assessment was computed: family A's assessment, made before family B filed the same photo,
stayed current with no reuse flag, and a decision on it was accepted.
"""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from serving.assessments import REUSED_KEY
from serving.db.models import Photo, ReuseLink
from serving.db.session import session_scope
from serving.reassessment import find_stale
from serving.reuse_links import reuse_linked
from tests.serving.helpers import jpeg

ACCEPT = {"kind": "accept"}


def _latest(service, family: str) -> dict:
    response = service.client.get(
        f"/families/{family}/assessments/latest", headers=service.headers("commission")
    )
    assert response.status_code == 200, response.text
    return response.json()


def _stale_reason(service, assessment_id: int):
    response = service.client.get(
        f"/assessments/{assessment_id}", headers=service.headers("commission")
    )
    assert response.status_code == 200, response.text
    return response.json()["stale_reason"]


@pytest.fixture
def filed_twice(service):
    """F1 files a photo and is assessed; then F2 files the same photo, re-encoded."""
    service.create_family("F1")
    service.create_family("F2")
    photo = jpeg(31, size=(800, 600))
    first = service.upload("F1", photo)
    assert first.status_code == 201, first.text
    before = service.assess("F1", who="inspector")
    assert before["result"]["photos"]["reused"] == 0
    second = service.upload("F2", jpeg(31, size=(800, 600), subsampling=0))
    assert second.status_code == 201 and second.json()["reuse"]["reused"], second.text
    return service, first.json()["photo_id"], second.json()["photo_id"], before


def test_the_family_that_filed_first_is_stale_and_recomputed_with_the_flag(filed_twice):
    service, first_id, second_id, before = filed_twice
    assert _stale_reason(service, before["assessment_id"]) == "reuse"
    refused = service.client.post(
        f"/assessments/{before['assessment_id']}/decisions", json=ACCEPT,
        headers=service.headers("commission"),
    )  # fmt: skip
    assert refused.status_code == 409, refused.text
    assert "another family" in refused.json()["message"]
    now = _latest(service, "F1")
    assert now["version"] == before["version"] + 1
    assert now["result"]["photos"]["reused"] == 1 and now["asp"] == "needs_review"
    assert now["model_versions"][REUSED_KEY] == str(first_id)
    assert now["stale_reason"] is None
    assert _latest(service, "F1")["version"] == now["version"]  # recomputed once, not per read
    with session_scope(service.services.sessions) as session:
        link = session.execute(select(ReuseLink)).scalar_one()
        assert (link.photo_id, link.other_family_id) == (second_id, "F1")


def test_links_flag_the_photos_without_the_index(filed_twice, restart):
    service, first_id, second_id, before = filed_twice
    again = restart(service)
    again.services.reuse = None  # no index at all: the links alone still say it
    assert _stale_reason(again, before["assessment_id"]) == "reuse"
    shown = again.client.get(f"/photos/{first_id}", headers=again.headers("commission")).json()
    assert shown["reuse"]["reused"] and [d["photo_id"] for d in shown["reuse"]["details"]] == [
        second_id
    ]  # the photo's answer says what the assessment counts
    assert _latest(again, "F1")["result"]["photos"]["reused"] == 1
    second_family = again.assess("F2", who="inspector")
    assert second_family["result"]["photos"]["reused"] == 1
    assert second_family["model_versions"][REUSED_KEY] == str(second_id)


def test_refresh_finds_the_family_stale_for_reuse(filed_twice):
    service, *_ = filed_twice
    found = find_stale(service.services)
    assert [(s.family_id, s.reason) for s in found] == [("F1", "reuse")]


def test_a_link_counts_only_while_the_photo_on_its_other_side_exists(service):
    service.create_family("F1")
    service.create_family("F2")
    second = service.upload("F2", jpeg(40)).json()
    later = jpeg(41)
    sha = hashlib.sha256(later).hexdigest()
    with session_scope(service.services.sessions) as session:
        # As an upload writes it when it matched F1's photo still in flight.
        session.add(ReuseLink(photo_id=second["photo_id"], other_family_id="F1",
                              other_sha256=sha, distance=3))  # fmt: skip
    with session_scope(service.services.sessions) as session:
        photo = session.get(Photo, second["photo_id"])
        assert reuse_linked(session, [photo]) == set()  # F1's photo never committed (yet)
    first = service.upload("F1", later).json()
    with session_scope(service.services.sessions) as session:
        photos = list(session.execute(select(Photo).order_by(Photo.id)).scalars())
        assert reuse_linked(session, photos) == {second["photo_id"], first["photo_id"]}
        assert reuse_linked(session, photos[:1]) == {photos[0].id}
