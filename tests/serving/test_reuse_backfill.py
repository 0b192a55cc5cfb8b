"""Migration 0011 links the photos whose very bytes another family filed before, as an upload
does now (serving.uploads.record_upload); the families' assessments that did not count the
photo reused go back to review. On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import numpy as np
from alembic import command
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import delete, select

from serving.db.models import Family, Photo, ReuseLink, User
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.migrations import alembic_config, upgrade
from tests.serving.helpers import PASSWORD, REGION
from tests.web.helpers import sign_in

ACCEPT = {"kind": "accept"}


def _flat() -> bytes:
    """A flat grey frame: the reuse index proposes nothing for its hash, so before uploads
    linked the same bytes, filing it for a second family linked and flagged nothing."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((600, 800, 3), 128, np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _links(sessions: Any) -> list[tuple[int, str, str, int]]:
    with session_scope(sessions) as session:
        rows = session.execute(select(ReuseLink).order_by(ReuseLink.id)).scalars()
        return [(r.photo_id, r.other_family_id, r.other_sha256, r.distance) for r in rows]


def _get(service: Any, address: str) -> dict[str, Any]:
    response = service.client.get(address, headers=service.headers("commission"))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _again_from_0010(database_url: str) -> None:
    """The database back at 0010 (0011's downgrade changes nothing) and upgraded again."""
    command.downgrade(alembic_config(database_url), "0010")
    upgrade(database_url)


def test_the_same_bytes_filed_before_are_linked_and_both_families_go_back_to_review(
    service, database_url
):
    service.create_family("F1")
    service.create_family("F2")
    photo = _flat()
    first_id = service.upload("F1", photo).json()["photo_id"]
    second = service.upload("F2", photo)
    assert second.status_code == 201 and not second.json()["duplicate"], second.text
    second_id = second.json()["photo_id"]
    with session_scope(service.services.sessions) as session:  # as filed before the link
        session.execute(delete(ReuseLink))
    before = {family: service.assess(family, who="inspector") for family in ("F1", "F2")}
    for made in before.values():
        assert made["result"]["photos"]["reused"] == 0
        assert _get(service, f"/assessments/{made['assessment_id']}")["stale_reason"] is None

    _again_from_0010(database_url)

    sha256 = hashlib.sha256(photo).hexdigest()
    assert _links(service.services.sessions) == [(second_id, "F1", sha256, 0)]
    for family, made in before.items():
        assert _get(service, f"/assessments/{made['assessment_id']}")["stale_reason"] == "reuse"
        latest = _get(service, f"/families/{family}/assessments/latest")
        assert latest["version"] == made["version"] + 1, family
        assert latest["result"]["photos"]["reused"] == 1 and latest["stale_reason"] is None
    shown = _get(service, f"/photos/{first_id}")["reuse"]
    assert shown == {
        "reused": True, "matches": 1,
        "details": [{"photo_id": second_id, "family_id": "F2", "distance": 0}],
    }  # fmt: skip
    browser = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "commission", PASSWORD).status_code == 303
    page = browser.get("/ui/families/F1")
    assert page.status_code == 200 and 'class="reuse"' in page.text, page.text


# Photos filed at 0010: (family, sha256), ids 1.. in this order.
FILED = [
    ("F1", "a"), ("F2", "a"), ("F3", "a"),  # one photo's bytes in three families
    ("F1", "b"), ("F4", "b"),  # F4's photo has its link already (a near-duplicate's distance)
    ("F4", "e"), ("F3", "e"),  # only the earlier photo links the later one (filed in flight)
    ("F2", "c"), ("F3", "d"),  # bytes of one family only
]  # fmt: skip
LINKED = [(5, "F1", "b" * 64, 3), (6, "F3", "e" * 64, 2)]


def _at_0010_with_photos(url: str) -> Any:
    upgrade(url, "0010")
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        user = User(username="inspector", password_hash="x", role="inspector", region=REGION)
        session.add(user)
        session.flush()
        for family in sorted({f for f, _ in FILED}):
            session.add(
                Family(
                    id=family, region=REGION, settlement="urban", head_gender="female",
                    record={}, created_by=user.id,
                )
            )  # fmt: skip
        session.flush()
        for family, sha in FILED:
            session.add(
                Photo(
                    family_id=family, sha256=sha * 64, format="jpeg", width=8, height=8,
                    size_bytes=100, uploaded_by=user.id,
                )
            )  # fmt: skip
            session.flush()
        for photo_id, other_family, other_sha, distance in LINKED:
            session.add(
                ReuseLink(
                    photo_id=photo_id, other_family_id=other_family, other_sha256=other_sha,
                    distance=distance,
                )
            )  # fmt: skip
    with session_scope(sessions) as session:
        ids = session.execute(select(Photo.id).order_by(Photo.id)).scalars().all()
        assert ids == list(range(1, len(FILED) + 1))
    return engine, sessions


def test_each_later_photo_is_linked_to_every_earlier_one_of_its_bytes_once(database_url):
    engine, sessions = _at_0010_with_photos(database_url)
    upgrade(database_url)
    added = [
        (2, "F1", "a" * 64, 0), (3, "F1", "a" * 64, 0), (3, "F2", "a" * 64, 0),
        (7, "F4", "e" * 64, 0),
    ]  # fmt: skip
    assert _links(sessions) == LINKED + added
    with session_scope(sessions) as session:
        made = session.execute(select(ReuseLink.created_at).where(ReuseLink.id > 2)).scalars()
        assert all(at is not None and at.tzinfo is not None for at in made)

    # The downgrade deletes nothing; upgrading again adds nothing.
    command.downgrade(alembic_config(database_url), "0010")
    assert _links(sessions) == LINKED + added
    upgrade(database_url)
    assert _links(sessions) == LINKED + added
    engine.dispose()
