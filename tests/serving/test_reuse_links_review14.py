"""Review of reuse links: what an upload writes (serving.uploads), and how the pages, the
assessments and a refresh read them (serving.photo_evidence), on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event, select

from serving.api.deps import CurrentUser
from serving.assessments import REUSED_KEY
from serving.db.models import AuditEntry, Family, Photo, ReuseLink, User
from serving.db.session import session_scope
from serving.reassessment import find_stale
from serving.reuse_links import reuse_linked, reuse_links_of
from serving.web.family_view import family_page, family_rows
from tests.serving.helpers import OTHER_REGION, jpeg

ACCEPT = {"kind": "accept"}


def _links(service) -> list[tuple[int, str]]:
    with session_scope(service.services.sessions) as session:
        rows = session.execute(select(ReuseLink).order_by(ReuseLink.id)).scalars()
        return [(r.photo_id, r.other_family_id) for r in rows]


def _latest(service, family: str, who: str = "commission") -> dict:
    response = service.client.get(
        f"/families/{family}/assessments/latest", headers=service.headers(who)
    )
    assert response.status_code == 200, response.text
    return response.json()


def _user(service, username: str) -> CurrentUser:
    with session_scope(service.services.sessions) as session:
        row = session.execute(select(User).where(User.username == username)).scalar_one()
        return CurrentUser(id=row.id, username=row.username, role=row.role, region=row.region)


@pytest.fixture
def filed_twice(service):
    """F1 files a photo; F2 then files the same photo re-encoded (one link, F2's to F1's)."""
    service.create_family("F1")
    service.create_family("F2")
    first = service.upload("F1", jpeg(31, size=(800, 600)))
    assert first.status_code == 201, first.text
    second = service.upload("F2", jpeg(31, size=(800, 600), subsampling=0))
    assert second.status_code == 201 and second.json()["reuse"]["reused"], second.text
    return service, first.json()["photo_id"], second.json()["photo_id"]


def test_same_bytes_again_and_a_replay_write_no_second_link(filed_twice):
    service, first_id, second_id = filed_twice
    assert _links(service) == [(second_id, "F1")]
    again = service.upload("F2", jpeg(31, size=(800, 600), subsampling=0))
    assert again.status_code == 200 and again.json()["duplicate"], again.text
    assert service.upload("F1", jpeg(31, size=(800, 600))).json()["duplicate"]
    key = {"Idempotency-Key": "k-1"}
    third = jpeg(31, size=(800, 600), subsampling=1)
    service.create_family("F3")
    made = service.upload("F3", third, headers=key)
    assert made.status_code == 201, made.text
    replayed = service.upload("F3", third, headers=key)
    assert replayed.status_code == 201 and replayed.json() == made.json()
    third_id = made.json()["photo_id"]
    assert sorted(_links(service)) == sorted(
        [(second_id, "F1"), (third_id, "F1"), (third_id, "F2")]
    )
    with session_scope(service.services.sessions) as session:
        audited = dict(
            session.execute(
                select(AuditEntry.target, AuditEntry.details).where(
                    AuditEntry.action == "photo_uploaded"
                )
            ).all()
        )
    assert {target: details["reuse_links"] for target, details in audited.items()} == {
        f"photo:{first_id}": 0, f"photo:{second_id}": 1, f"photo:{third_id}": 2,
    }  # fmt: skip


def test_a_photo_counted_by_the_index_alone_is_not_recomputed_per_read(filed_twice):
    """As photos filed before migration 0008: no link, the index alone says reused."""
    service, first_id, _ = filed_twice
    with session_scope(service.services.sessions) as session:
        for link in session.execute(select(ReuseLink)).scalars():
            session.delete(link)
    made = service.assess("F1", who="inspector")
    assert made["result"]["photos"]["reused"] == 1
    assert made["model_versions"][REUSED_KEY] == str(first_id)
    assert _latest(service, "F1")["version"] == made["version"]
    assert _latest(service, "F1")["version"] == made["version"]
    assert find_stale(service.services) == []  # what `assessments refresh --dry-run` counts
    with session_scope(service.services.sessions) as session:
        rows = family_rows(session, service.services, _user(service, "commission"))
        assert {r.family_id: r.stale_reason for r in rows.rows}["F1"] is None


@pytest.fixture
def without_index(filed_twice, restart):
    """The service again, with no reuse index: the link alone says the photos are reused."""
    service, first_id, second_id = filed_twice
    again = restart(service)
    again.services.reuse = None
    assert _latest(again, "F1")["result"]["photos"]["reused"] == 1
    return again, first_id, second_id


def test_the_family_list_flags_what_the_assessment_counted(without_index):
    # Before: the list's reuse flag asked the index alone, so a family whose assessment
    # counted a linked photo as reused (and sent it to review) showed no reuse flag.
    service, *_ = without_index
    with session_scope(service.services.sessions) as session:
        rows = family_rows(session, service.services, _user(service, "commission"))
    assert {r.family_id: r.flags.reused for r in rows.rows} == {"F1": True, "F2": True}


def test_the_family_page_flags_the_photo_the_assessment_counted(without_index):
    # Before: each photo's reuse note asked the index alone; the assessment counted one photo
    # as reused and the page flagged none of them.
    service, first_id, second_id = without_index
    commission = _user(service, "commission")
    with session_scope(service.services.sessions) as session:
        for family_id, other_id, other_family in (
            ("F1", second_id, "F2"),
            ("F2", first_id, "F1"),
        ):
            family = session.get_one(Family, family_id)
            page = family_page(session, service.services, family, commission)
            assert page.result["photos"]["reused"] == 1
            [photo] = page.photos
            assert photo.reuse["reused"] and photo.reuse["matches"] == 1
            assert [(d["photo_id"], d["family_id"]) for d in photo.reuse["details"]] == [
                (other_id, other_family)
            ]


def test_a_link_to_another_region_is_counted_not_named(service, restart):
    service.create_family("F1")
    service.create_family("F2", region=OTHER_REGION)
    assert service.upload("F1", jpeg(31, size=(800, 600))).status_code == 201
    before = service.assess("F1", who="inspector")
    photo = jpeg(31, size=(800, 600), subsampling=0)
    assert service.upload("F2", photo, who="inspector_other").json()["reuse"]["reused"]
    # The stale reason and the refusal say a family elsewhere filed it, and name none.
    seen = service.client.get(
        f"/assessments/{before['assessment_id']}", headers=service.headers("inspector")
    )
    assert seen.json()["stale_reason"] == "reuse"
    refused = service.client.post(
        f"/assessments/{before['assessment_id']}/decisions", json=ACCEPT,
        headers=service.headers("commission"),
    )  # fmt: skip
    assert refused.status_code == 409, refused.text
    assert not {"F2", OTHER_REGION} & set(refused.text.replace('"', " ").split())
    again = restart(service)
    again.services.reuse = None
    for who, details in (
        ("commission", [{"photo_id": None, "family_id": None}]),  # counted, not named
        ("inspector", []),  # inspectors learn the count alone
    ):
        viewer = _user(again, who)
        with session_scope(again.services.sessions) as session:
            page = family_page(session, again.services, session.get_one(Family, "F1"), viewer)
        assert page.result["photos"]["reused"] == 1
        reuse = page.photos[0].reuse
        assert reuse["reused"] and reuse["matches"] == 1
        assert [{k: d[k] for k in ("photo_id", "family_id")} for d in reuse["details"]] == details


def test_the_family_list_asks_for_links_once(filed_twice):
    service, *_ = filed_twice
    for n in range(3, 8):
        service.create_family(f"F{n}")
        assert service.upload(f"F{n}", jpeg(100 + n)).status_code == 201
    asked: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if "reuse_links" in statement:
            asked.append(statement)

    event.listen(service.services.db_engine, "before_cursor_execute", seen)
    try:
        with session_scope(service.services.sessions) as session:
            rows = family_rows(session, service.services, _user(service, "commission"))
    finally:
        event.remove(service.services.db_engine, "before_cursor_execute", seen)
    assert len(rows.rows) == 7 and len(asked) == 1


def test_links_of_many_photos_are_asked_within_the_parameter_limits(filed_twice):
    """The list page and a refresh batch ask for the photos of up to 500 families at once.
    Before: two IN lists of every photo id, so 32768 photos (66 a family) passed PostgreSQL's
    65535 parameters, and 16384 the 32766 of SQLite's default build."""
    service, first_id, second_id = filed_twice
    with session_scope(service.services.sessions) as session:
        raw = session.connection().connection.dbapi_connection
        if isinstance(raw, sqlite3.Connection):  # as SQLite builds with the default limit
            raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32766)
        mine = list(session.execute(select(Photo).order_by(Photo.id)).scalars())
        many = [
            Photo(id=10**6 + i, family_id=f"G{i % 500}", sha256=f"{i:064x}") for i in range(40000)
        ]
        assert reuse_linked(session, mine + many) == {first_id, second_id}
        assert {k: [m.photo_id for m in v] for k, v in reuse_links_of(session, mine).items()} == {
            first_id: [second_id], second_id: [first_id],
        }  # fmt: skip
