"""A room correction kept as a row of room_corrections, its audit entry pinning it (the row's
id and the reason's `reason_sha256`, never the words): a row changed, deleted or added behind
the service is reported by the checks that report decisions so (`/audit/verify`, `shanyraq
audit verify`, the audit page), entries written before the table (the words, no row) stay
valid; the reason's length counted as stored, a line break as one however sent; and the
table made and dropped by its migration. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, inspect, select, update

from serving import audit
from serving.core.reason_chars import ReasonChars
from serving.db.models import AuditEntry, RoomCorrection, User
from serving.db.session import make_engine, session_scope
from serving.decisions import reason_sha256
from serving.migrations import upgrade
from tests.serving.decision_helpers import audit_verified
from tests.serving.helpers import Service, audit_entries, jpeg
from tests.serving.migration_helpers import downgrade

# The shipped limit the test services run with (configs/serving.yaml reason_chars).
ROOM_REASON_MAX_CHARS = ReasonChars().room_correction_max

ACTION = "photo_room_corrected"
REASON = "Chose kitchen by mistake at the visit."


def _filed(service: Service) -> int:
    """A photo filed for F1 (made here) by the inspector, noted as kitchen; its id."""
    service.create_family("F1")
    response = service.upload("F1", jpeg(91), data={"room_hint": "kitchen"})
    assert response.status_code == 201, response.text
    return int(response.json()["photo_id"])


def _correct(service: Service, photo_id: int, room: str | None, reason: str = REASON) -> Any:
    return service.client.put(
        f"/families/F1/photos/{photo_id}/room", headers=service.headers("inspector"),
        json={"room_hint": room, "reason": reason},
    )  # fmt: skip


def _corrected(service: Service) -> tuple[int, int]:
    """A photo corrected twice (kitchen -> bathroom -> bathroom, unchanged); the rows' ids."""
    photo_id = _filed(service)
    assert _correct(service, photo_id, "bathroom").status_code == 200
    assert _correct(service, photo_id, "bathroom", "Sent again to be sure.").status_code == 200
    first, second = _kept(service)
    return first.id, second.id


def _kept(service: Service) -> list[RoomCorrection]:
    with session_scope(service.services.sessions) as session:
        found = session.execute(select(RoomCorrection).order_by(RoomCorrection.id)).scalars()
        return list(found)


def _entry_seq(service: Service, correction_id: int) -> int:
    (seq,) = [
        e.seq for e in audit_entries(service, ACTION) if e.details["correction_id"] == correction_id
    ]
    return seq


def _change(service: Service, correction_id: int, **values: Any) -> None:
    """Change a correction's row behind the service (as a database client could)."""
    with session_scope(service.services.sessions) as session:
        session.execute(
            update(RoomCorrection).where(RoomCorrection.id == correction_id).values(**values)
        )


def test_a_correction_is_kept_with_its_reason_and_pinned_by_its_entry(service):
    first, second = _corrected(service)
    kept = {c.id: c for c in _kept(service)}
    entries = {e.details["correction_id"]: e for e in audit_entries(service, ACTION)}
    assert set(entries) == {first, second}
    assert (kept[first].reason, kept[first].unchanged) == (REASON, False)
    assert (kept[second].previous_room_hint, kept[second].room_hint) == ("bathroom", "bathroom")
    assert kept[second].unchanged is True and entries[second].details["unchanged"] is True
    for number, entry in entries.items():
        assert entry.details["reason_sha256"] == reason_sha256(kept[number].reason)
        assert "reason" not in entry.details
    result = audit_verified(service)
    assert (result["ok"], result["problems"]) == (True, [])


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"reason": "Another reason, put in later."}, "reason"),
        ({"room_hint": "bedroom"}, "room_hint"),
        ({"previous_room_hint": None}, "previous_room_hint"),
        ({"unchanged": True}, "unchanged"),
    ],
    ids=["reason", "room", "previous-room", "unchanged"],
)
def test_a_correction_changed_behind_the_service_is_reported(service, values, named):
    first, _ = _corrected(service)
    _change(service, first, **values)
    result = audit_verified(service)
    assert result["ok"] is False
    assert result["problems"] == [
        f"room correction {first}: its {named} differ from audit entry "
        f"{_entry_seq(service, first)}: changed after it was recorded"
    ]


def test_a_correction_given_another_sender_or_photo_is_reported(service):
    first, _ = _corrected(service)
    other = service.upload("F1", jpeg(92), data={"room_hint": "kitchen"}).json()["photo_id"]
    with session_scope(service.services.sessions) as session:
        admin = session.execute(select(User.id).where(User.username == "admin")).scalar_one()
    _change(service, first, corrected_by=admin, photo_id=other)
    assert audit_verified(service)["problems"] == [
        f"room correction {first}: its photo_id, corrected_by differ from audit entry "
        f"{_entry_seq(service, first)}: changed after it was recorded"
    ]


def test_a_correction_deleted_or_added_behind_the_service_is_reported(service):
    first, second = _corrected(service)
    with session_scope(service.services.sessions) as session:
        added = RoomCorrection(**{
            name: getattr(session.get_one(RoomCorrection, second), name)
            for name in ("photo_id", "family_id", "previous_room_hint", "room_hint", "reason",
                         "corrected_by", "unchanged")
        })  # fmt: skip
        session.add(added)
        session.flush()
        added_id = added.id
        session.execute(delete(RoomCorrection).where(RoomCorrection.id == first))
    result = audit_verified(service)
    assert result["ok"] is False
    assert result["problems"] == [
        f"room correction {first} (audit entry {_entry_seq(service, first)}) was deleted",
        f"room corrections no audit entry records (added outside the service): {added_id}",
    ]


def test_an_entry_from_before_the_table_stays_valid(service):
    """Written as corrections were audited before they were kept (the reason in words, no
    row): nothing is missing, nothing to compare; a kept correction beside it is checked."""
    photo_id = _filed(service)
    with session_scope(service.services.sessions) as session:
        audit.append(
            session, service.services.signing_key, actor="inspector", action=ACTION,
            target=f"photo:{photo_id}",
            details={"family_id": "F1", "sha256": "0" * 64, "previous_room_hint": "kitchen",
                     "room_hint": "bathroom", "reason": REASON},
        )  # fmt: skip
    assert audit_verified(service)["ok"] is True
    assert _correct(service, photo_id, "bedroom").status_code == 200
    (kept,) = _kept(service)
    _change(service, kept.id, reason="changed")
    assert [p.partition(":")[0] for p in audit_verified(service)["problems"]] == [
        f"room correction {kept.id}"
    ]


def test_the_cli_and_the_audit_page_report_a_changed_correction(service, tmp_path, database_url):
    from tests.serving.cli_helpers import run_cli
    from tests.serving.helpers import serving_yaml
    from tests.web.helpers import page_client

    first, _ = _corrected(service)
    _change(service, first, reason="changed")
    said = f"room correction {first}: its reason differ from audit entry"
    page = page_client(service, "admin_national").get("/ui/audit?verify=true")
    assert page.status_code == 200 and said in page.text
    config = serving_yaml(tmp_path / "serving.yaml", tmp_path, database_url, fusion_dir="")
    ran = run_cli("audit", "verify", "--config", config)
    assert ran.exit_code == 1, ran.output
    assert said in ran.output


def test_a_reason_is_counted_as_stored_a_line_break_as_one(service):
    """499 characters and a CRLF are 500 as stored (the page's textarea counts them so):
    admitted; one more character is refused, however the line breaks were sent."""
    photo_id = _filed(service)
    sent = "x" * 250 + "\r\n" + "y" * 249
    assert len(sent) == ROOM_REASON_MAX_CHARS + 1
    response = _correct(service, photo_id, "bathroom", sent)
    assert response.status_code == 200, response.text
    many = "line of words\r\n" * 35 + "x" * 10  # 500 once each CRLF is one
    assert len(many.replace("\r\n", "\n")) == ROOM_REASON_MAX_CHARS < len(many)
    assert _correct(service, photo_id, "bedroom", many).status_code == 200
    assert [c.reason for c in _kept(service)] == [
        "x" * 250 + "\n" + "y" * 249, many.replace("\r\n", "\n"),
    ]  # fmt: skip
    for over in ("z" + many, "z" + sent.replace("\r\n", "\r")):
        refused = _correct(service, photo_id, "exterior", over)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "request_invalid"
        assert [d["where"] for d in refused.json()["details"]] == ["body.reason"]
    assert len(_kept(service)) == 2


def test_a_reason_of_nothing_but_nul_is_refused(service):
    """Stored without its NUL characters, as a decision's reason, nothing would be left."""
    photo_id = _filed(service)
    refused = _correct(service, photo_id, "bathroom", "\x00\x00 ")
    assert refused.status_code == 422, refused.text
    assert [d["where"] for d in refused.json()["details"]] == ["body.reason"]
    assert not _kept(service) and not audit_entries(service, ACTION)


def test_the_migration_makes_and_drops_the_table(database_url):
    upgrade(database_url)
    assert "room_corrections" in _tables(database_url)
    downgrade(database_url, "0014")
    assert "room_corrections" not in _tables(database_url)
    upgrade(database_url)
    assert "room_corrections" in _tables(database_url)


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def test_the_entry_names_no_row_it_does_not_record(service):
    """The entry's `correction_id` is the row written with it, in the same transaction."""
    _corrected(service)
    with session_scope(service.services.sessions) as session:
        pairs = session.execute(
            select(AuditEntry.target, AuditEntry.details).where(AuditEntry.action == ACTION)
        ).all()
        rows = {c.id: c.photo_id for c in session.execute(select(RoomCorrection)).scalars()}
    assert {d["correction_id"]: t for t, d in pairs} == {
        number: f"photo:{photo}" for number, photo in rows.items()
    }
