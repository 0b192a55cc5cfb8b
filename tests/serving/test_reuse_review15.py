"""Review of reuse links and photo evidence (helper-120): a family page reads the reuse links
once, and the same bytes filed for another family are linked as a near-duplicate is."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import event, func, select

from serving.api.deps import CurrentUser
from serving.db.models import Assessment, Family, Photo, ReuseLink, User
from serving.db.session import session_scope
from serving.web.family_view import family_page
from tests.serving.helpers import OTHER_REGION, PASSWORD, jpeg
from tests.web.helpers import sign_in


def _flat() -> bytes:
    """A flat grey frame: its hash is not informative, so the reuse index proposes nothing
    for it (vision.hashing.candidates); only the bytes can tell it is another family's."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((600, 800, 3), 128, np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _links(service: Any) -> list[tuple[int, str]]:
    with session_scope(service.services.sessions) as session:
        rows = session.execute(select(ReuseLink).order_by(ReuseLink.id)).scalars()
        return [(r.photo_id, r.other_family_id) for r in rows]


def _user(service: Any, username: str) -> CurrentUser:
    with session_scope(service.services.sessions) as session:
        row = session.execute(select(User).where(User.username == username)).scalar_one()
        return CurrentUser(id=row.id, username=row.username, role=row.role, region=row.region)


def _api_reuse(service: Any, photo_id: int, who: str) -> dict[str, Any]:
    response = service.client.get(f"/photos/{photo_id}", headers=service.headers(who))
    assert response.status_code == 200, response.text
    return dict(response.json()["reuse"])


def _page_reuse(service: Any, family_id: str, who: str) -> dict[int, dict[str, Any]]:
    """Each photo's reuse note on the family page, by photo id, as `who` sees it."""
    viewer = _user(service, who)
    with session_scope(service.services.sessions) as session:
        family = session.get_one(Family, family_id)
        page = family_page(session, service.services, family, viewer)
        return {p.id: p.reuse for p in page.photos}


@contextmanager
def _links_read(service: Any) -> Iterator[list[str]]:
    """The statements that read the reuse_links table while the block runs."""
    asked: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "reuse_links" in statement and not statement.lstrip().upper().startswith("INSERT"):
            asked.append(statement)

    event.listen(service.services.db_engine, "before_cursor_execute", seen)
    try:
        yield asked
    finally:
        event.remove(service.services.db_engine, "before_cursor_execute", seen)


# --- a family page reads the reuse links once -----------------------------------------


@pytest.mark.parametrize("n_photos", [1, 5])
def test_a_family_page_reads_the_reuse_links_once(service, n_photos):
    # Before: three reads per view of a current assessment (is it current, why is it stale,
    # each photo's note) and five when the view recomputed it.
    service.create_family("F1")
    service.create_family("F2")
    filed = [service.upload("F1", jpeg(200 + i)).json()["photo_id"] for i in range(n_photos)]
    assert service.upload("F2", jpeg(200, subsampling=0)).json()["reuse"]["reused"]
    service.assess("F1", who="inspector")
    client = TestClient(service.app, base_url="http://127.0.0.1")  # shares the started app
    assert sign_in(client, "commission", PASSWORD).status_code == 303

    def view() -> tuple[int, str]:
        with _links_read(service) as asked:
            page = client.get("/ui/families/F1")
        assert page.status_code == 200, page.text
        return len(asked), page.text

    count, html = view()
    assert count == 1
    assert 'class="reuse"' in html  # the first photo's note, from that one read
    assert _page_reuse(service, "F1", "commission")[filed[0]]["reused"]
    # A new photo makes the assessment stale: recomputed under the family's lock, on the
    # photos and links read again there (one may have been committed meanwhile).
    assert service.upload("F1", jpeg(300)).status_code == 201

    def versions() -> int:
        with session_scope(service.services.sessions) as session:
            return int(session.execute(select(func.count()).select_from(Assessment)).scalar_one())

    before = versions()
    assert view()[0] == 2
    assert versions() == before + 1
    assert view()[0] == 1  # current again
    assert versions() == before + 1


# --- the same bytes for another family ----------------------------------------------------


@pytest.mark.parametrize("photo", [_flat(), jpeg(31, size=(800, 600))], ids=["flat", "textured"])
def test_the_same_bytes_for_another_family_are_linked_as_a_near_duplicate(service, photo):
    # Before: a flat frame's bytes filed again for another family wrote no link and flagged
    # nothing (the index proposes no candidates for its hash), though the store holds one file.
    service.create_family("F1")
    service.create_family("F2")
    first = service.upload("F1", photo)
    assert first.status_code == 201, first.text
    first_id = first.json()["photo_id"]
    before = service.assess("F1", who="inspector")
    assert before["result"]["photos"]["reused"] == 0

    second = service.upload("F2", photo)
    assert second.status_code == 201 and not second.json()["duplicate"], second.text
    second_id = second.json()["photo_id"]
    assert second.json()["reuse"]["reused"] and second.json()["reuse"]["matches"] == 1
    assert _links(service) == [(second_id, "F1")]

    # The family that filed first goes back to review; both assessments count the photo.
    stale = service.client.get(
        f"/assessments/{before['assessment_id']}", headers=service.headers("commission")
    )
    assert stale.json()["stale_reason"] == "reuse"
    assert service.assess("F1", who="inspector")["result"]["photos"]["reused"] == 1
    assert service.assess("F2", who="inspector")["result"]["photos"]["reused"] == 1

    # The API and the page show it alike, naming the other photo to the commission.
    for mine, other, family, other_family in (
        (first_id, second_id, "F1", "F2"),
        (second_id, first_id, "F2", "F1"),
    ):
        shown = _api_reuse(service, mine, "commission")
        assert shown == {
            "reused": True, "matches": 1,
            "details": [{"photo_id": other, "family_id": other_family, "distance": 0}],
        }  # fmt: skip
        assert _page_reuse(service, family, "commission") == {mine: shown}
        assert _api_reuse(service, mine, "inspector") == {
            "reused": True, "matches": 1, "details": []
        }  # fmt: skip


def test_the_same_bytes_again_stay_one_photo_and_write_no_link(service):
    service.create_family("F1")
    service.create_family("F2")
    photo = _flat()
    first = service.upload("F1", photo).json()
    again = service.upload("F1", photo)
    assert again.status_code == 200 and again.json()["duplicate"], again.text
    assert again.json()["photo_id"] == first["photo_id"]
    assert again.json()["reuse"] == {"reused": False, "matches": 0, "details": []}
    assert _links(service) == []
    second = service.upload("F2", photo).json()
    # Filed again by either family: the same photo, the one link, and the answer says reused
    # as GET /photos/{id} does.
    for family, photo_id in (("F1", first["photo_id"]), ("F2", second["photo_id"])):
        repeated = service.client.post(
            f"/families/{family}/photos",
            files={"file": ("photo.jpg", photo, "image/jpeg")},
            headers=service.headers("inspector"),
        )
        assert repeated.status_code == 200 and repeated.json()["photo_id"] == photo_id
        assert repeated.json()["reuse"] == _api_reuse(service, photo_id, "inspector")
        assert repeated.json()["reuse"]["reused"]
    assert _links(service) == [(second["photo_id"], "F1")]
    with session_scope(service.services.sessions) as session:
        assert session.execute(select(func.count()).select_from(Photo)).scalar_one() == 2


@pytest.mark.parametrize(
    ("photo", "copy"),
    [(_flat(), _flat()), (jpeg(31, size=(800, 600)), jpeg(31, size=(800, 600), subsampling=0))],
    ids=["flat", "textured"],
)
def test_the_same_bytes_from_another_region_are_counted_not_named(service, photo, copy):
    """As a near-duplicate from another region (reuse_index.shaped): the commission learns a
    family elsewhere filed it, not which; an inspector learns the count alone."""
    service.create_family("F1")
    service.create_family("F2", region=OTHER_REGION)
    service.create_family("F3")
    first_id = service.upload("F1", photo).json()["photo_id"]
    elsewhere = service.upload("F2", photo, who="inspector_other")
    assert elsewhere.status_code == 201, elsewhere.text
    assert elsewhere.json()["reuse"] == {"reused": True, "matches": 1, "details": []}
    near = service.upload("F3", copy)  # in F1's region: named to F1's commission
    assert near.status_code == 201 and near.json()["reuse"]["matches"] == 2, near.text
    shown = _api_reuse(service, first_id, "commission")
    assert shown["reused"] and shown["matches"] == 2
    assert [d for d in shown["details"] if d["family_id"] != "F3"] == [
        {"photo_id": None, "family_id": None, "distance": 0}
    ]
    assert [d["photo_id"] for d in shown["details"] if d["family_id"] == "F3"] == [
        near.json()["photo_id"]
    ]
    assert _page_reuse(service, "F1", "commission") == {first_id: shown}
    inspector = _api_reuse(service, first_id, "inspector")
    assert inspector == {"reused": True, "matches": 2, "details": []}
    assert _page_reuse(service, "F1", "inspector") == {first_id: inspector}
    # The other region's commission sees F1's and F3's photos counted, not named, in turn.
    theirs = _api_reuse(service, elsewhere.json()["photo_id"], "commission_other")
    assert theirs["matches"] == 2
    assert [(d["photo_id"], d["family_id"]) for d in theirs["details"]] == [(None, None)] * 2


def test_a_photo_filed_again_answers_its_reuse_as_get_photo_does(service, restart):
    # Before: the answer to bytes the family had filed already showed what the reuse index
    # said now, and GET /photos/{id} that and the photo's links: with no index (or another
    # verdict after a restart) the upload said "not reused" of a photo the page flagged.
    service.create_family("F1")
    service.create_family("F2")
    photo = jpeg(31, size=(800, 600))
    first_id = service.upload("F1", photo).json()["photo_id"]
    assert service.upload("F2", jpeg(31, size=(800, 600), subsampling=0)).json()["reuse"]["reused"]
    again = restart(service)
    again.services.reuse = None
    for who in ("inspector", "admin"):
        shown = _api_reuse(again, first_id, who)
        assert shown["reused"] and shown["matches"] == 1
        answer = again.upload("F1", photo, who=who)
        assert answer.status_code == 200 and answer.json()["duplicate"], answer.text
        assert answer.json()["reuse"] == shown
    assert len(_links(again)) == 1
