"""The exact lines the decisions' and the room corrections' audit checks report, word for word
and in order (`shanyraq audit verify`, the API's /audit/verify and the audit page show them):
rows changed, deleted and added outside the service, ids past the tenth cut to " ...";
entries written before a field or the table existed checked only for what they hold; a row
whose entry the chain reports as unreadable named as not checked, not as added outside the
service. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

from serving import audit
from serving.db.models import Decision, RoomCorrection, User
from serving.db.session import session_scope
from serving.decision_check import decision_problems
from serving.room_check import room_correction_problems
from tests.serving.audit_helpers import NOT_UTF8, drop_audit_guards
from tests.serving.decision_helpers import ACCEPT, IN_KAZAKH, assess, audit_verified, decide
from tests.serving.helpers import Service, audit_entries, jpeg, serving_yaml

ROOM = "photo_room_corrected"
DECIDED = "decision_recorded"
ADDED = range(1011, 1000, -1)  # ids of the rows put in behind the service, the last first
ADDED_SHOWN = "1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010 ..."
UNTOLD = (  # the last line where an entry that cannot be read does not tell its row
    "no readable audit entry records (added outside the service, or recorded by an entry that "
    "cannot be read: see above): "
)


def _decisions(service: Service, n: int) -> list[int]:
    """`n` decisions on F1 (made here), an override and accepts; their ids."""
    service.create_family("F1")
    ids = []
    for i in range(n):
        sent = decide(service, assess(service), IN_KAZAKH if i == 0 else ACCEPT)
        assert sent.status_code == 201, sent.text
        ids.append(int(sent.json()["decision_id"]))
    return ids


def _corrections(service: Service, n: int) -> list[int]:
    """A photo of F1 (made before) corrected `n` times; the rows' ids."""
    filed = service.upload("F1", jpeg(93), data={"room_hint": "kitchen"})
    assert filed.status_code == 201, filed.text
    photo_id = filed.json()["photo_id"]
    for room in ("bathroom", "bedroom", "exterior", "kitchen")[:n]:
        sent = service.client.put(
            f"/families/F1/photos/{photo_id}/room", headers=service.headers("inspector"),
            json={"room_hint": room, "reason": f"The visit showed the {room}."},
        )  # fmt: skip
        assert sent.status_code == 200, sent.text
    return [c.id for c in _rows(service, RoomCorrection)]


def _rows(service: Service, model: Any) -> list[Any]:
    with session_scope(service.services.sessions) as session:
        return list(session.execute(select(model).order_by(model.id)).scalars())


def _seq(service: Service, action: str, row_id: int) -> int:
    """The seq of the entry that records row `row_id`."""
    (seq,) = [
        e.seq
        for e in audit_entries(service, action)
        if (e.target == f"decision:{row_id}" if action == DECIDED else
            e.details.get("correction_id") == row_id)
    ]  # fmt: skip
    return seq


def _copies(session: Session, model: Any, of: int, ids: range) -> None:
    """Rows `ids` of `model` put in behind the service, each a copy of row `of`."""
    row = session.get_one(model, of)
    values = {c.name: getattr(row, c.name) for c in model.__table__.columns}
    for number in ids:
        session.execute(insert(model).values({**values, "id": number}))


def _problems(service: Service) -> tuple[list[str], list[str]]:
    with session_scope(service.services.sessions) as session:
        return decision_problems(session), room_correction_problems(session)


def _unreadable(session: Session, told: list[int], untold: list[int] | None = None) -> None:
    """Entries made unreadable past the log's guards: those at `told` still naming their row
    (SQLite: details not JSON; PostgreSQL: `at` emptied), those at `untold` not (their target
    not UTF-8 on SQLite, emptied with `at` on PostgreSQL)."""
    drop_audit_guards(session)
    if session.get_bind().dialect.name == "sqlite":  # any bytes in any column
        details, target = "details = '{\"kind\": '", f"target = {NOT_UTF8}"
    else:  # a column holds only its type: emptied, once `at`'s constraint is gone
        session.execute(text("ALTER TABLE audit_log ALTER COLUMN at DROP NOT NULL"))
        details, target = "at = NULL", "at = NULL, target = NULL"
    for seq in told:
        session.execute(text(f"UPDATE audit_log SET {details} WHERE seq = :seq"), {"seq": seq})
    for seq in untold or []:
        session.execute(text(f"UPDATE audit_log SET {target} WHERE seq = :seq"), {"seq": seq})


def test_rows_changed_deleted_and_added_are_reported_word_for_word(service):
    deleted, changed, kept = _decisions(service, 3)
    room_changed, room_deleted, _ = _corrections(service, 3)
    seqs = {n: _seq(service, DECIDED, n) for n in (deleted, changed)}
    room_seqs = {n: _seq(service, ROOM, n) for n in (room_changed, room_deleted)}
    with session_scope(service.services.sessions) as session:
        session.execute(
            update(Decision).where(Decision.id == changed).values(decided_level=6, reason="none")
        )
        session.execute(delete(Decision).where(Decision.id == deleted))
        _copies(session, Decision, kept, ADDED)
        session.execute(
            update(RoomCorrection)
            .where(RoomCorrection.id == room_changed)
            .values(room_hint="bedroom", reason="Put in later.")
        )
        session.execute(delete(RoomCorrection).where(RoomCorrection.id == room_deleted))
        _copies(session, RoomCorrection, room_changed, ADDED)
    decisions = [
        f"decision {deleted} (audit entry {seqs[deleted]}) was deleted",
        f"decision {changed}: its decided_level, reason differ from audit entry "
        f"{seqs[changed]}: changed after it was recorded",
        f"decisions no audit entry records (added outside the service): {ADDED_SHOWN}",
    ]
    rooms = [
        f"room correction {room_changed}: its room_hint, reason differ from audit entry "
        f"{room_seqs[room_changed]}: changed after it was recorded",
        f"room correction {room_deleted} (audit entry {room_seqs[room_deleted]}) was deleted",
        f"room corrections no audit entry records (added outside the service): {ADDED_SHOWN}",
    ]
    assert _problems(service) == (decisions, rooms)
    result = audit_verified(service)  # the chain itself is intact: only the tables' lines
    assert (result["ok"], result["problems"]) == (False, [*decisions, *rooms])


def test_ten_rows_added_are_all_shown(service):
    (kept,) = _decisions(service, 1)
    (room_kept,) = _corrections(service, 1)
    with session_scope(service.services.sessions) as session:
        _copies(session, Decision, kept, range(1001, 1011))
        _copies(session, RoomCorrection, room_kept, range(1001, 1011))
    shown = ADDED_SHOWN.removesuffix(" ...")
    assert _problems(service) == (
        [f"decisions no audit entry records (added outside the service): {shown}"],
        [f"room corrections no audit entry records (added outside the service): {shown}"],
    )


def test_entries_of_before_a_field_or_the_table_are_checked_for_what_they_hold(service):
    """A decision entry written before `reason_sha256`, the groups and `seen_decision_id`:
    its reason and groups are not compared, the rest is. A room entry written before the
    table (no `correction_id`): no row is its, nothing is compared or missing."""
    (recorded,) = _decisions(service, 1)
    photo_id = service.upload("F1", jpeg(94)).json()["photo_id"]
    with session_scope(service.services.sessions) as session:
        _copies(session, Decision, recorded, range(2001, 2002))
        old = session.get_one(Decision, 2001)
        username = session.execute(select(User.username).where(User.id == old.decided_by))
        audit.append(
            session, service.services.signing_key, actor=username.scalar_one(),
            action=DECIDED, target="decision:2001",
            details={name: getattr(old, name) for name in (
                "assessment_id", "family_id", "kind", "model_level", "decided_level",
                "reason_code")},
        )  # fmt: skip
        old.reason, old.region, old.settlement = "changed", "elsewhere", "rural"
        old.head_gender, old.seen_decision_id = "male", 7
        audit.append(
            session, service.services.signing_key, actor="inspector", action=ROOM,
            target=f"photo:{photo_id}",
            details={"family_id": "F1", "sha256": "0" * 64, "previous_room_hint": "kitchen",
                     "room_hint": "bathroom", "reason": "Written before the table."},
        )  # fmt: skip
    assert _problems(service) == ([], [])
    with session_scope(service.services.sessions) as session:
        session.execute(update(Decision).where(Decision.id == 2001).values(decided_level=6))
    (kept,) = _corrections(service, 1)
    with session_scope(service.services.sessions) as session:
        session.execute(update(RoomCorrection).where(RoomCorrection.id == kept).values(reason="x"))
    assert _problems(service) == (
        [
            "decision 2001: its decided_level differ from audit entry "
            f"{_seq(service, DECIDED, 2001)}: changed after it was recorded"
        ],
        [
            f"room correction {kept}: its reason differ from audit entry "
            f"{_seq(service, ROOM, kept)}: changed after it was recorded"
        ],
    )


def test_a_row_whose_entry_cannot_be_read_is_not_taken_for_one_added_outside(service):
    """An entry whose column cannot be read is the chain's to report; the checks go on past
    it. The row it records is named as not checked where the entry still tells which row it
    is: a decision by its target, a room correction by its details' `correction_id`. On
    SQLite the details are not JSON: a correction's row cannot be told, and the last line
    says its row may be one such entry records."""
    unread, changed = _decisions(service, 2)
    room_unread, room_changed = _corrections(service, 2)
    seqs = [_seq(service, DECIDED, unread), _seq(service, ROOM, room_unread)]
    changed_at = _seq(service, DECIDED, changed), _seq(service, ROOM, room_changed)
    with session_scope(service.services.sessions) as session:
        sqlite = session.get_bind().dialect.name == "sqlite"
        _unreadable(session, told=seqs)
        session.execute(update(Decision).where(Decision.id == changed).values(decided_level=6))
        session.execute(
            update(RoomCorrection).where(RoomCorrection.id == room_changed).values(reason="x")
        )
    decisions = [
        f"decision {unread}: its audit entry {seqs[0]} cannot be read (above), so it is not "
        "checked",
        f"decision {changed}: its decided_level differ from audit entry {changed_at[0]}: "
        "changed after it was recorded",
    ]
    room_changed_line = (
        f"room correction {room_changed}: its reason differ from audit entry {changed_at[1]}: "
        "changed after it was recorded"
    )
    rooms = (
        [room_changed_line, f"room corrections {UNTOLD}{room_unread}"]
        if sqlite
        else [
            f"room correction {room_unread}: its audit entry {seqs[1]} cannot be read (above), "
            "so it is not checked",
            room_changed_line,
        ]
    )
    assert _problems(service) == (decisions, rooms)
    problems = audit_verified(service)["problems"]
    assert problems[-4:] == [*decisions, *rooms]
    for seq in seqs:
        assert any(p.startswith(f"entry {seq}: ") and "cannot be read (" in p for p in problems)


def test_an_entry_that_cannot_tell_its_row_makes_the_last_line_say_so(service):
    """The decision it recorded and rows added behind the service are listed together, in
    words that accuse none of them; the room corrections' line, with no unreadable entry of
    theirs, reads as before."""
    untold, kept = _decisions(service, 2)
    (room_kept,) = _corrections(service, 1)
    seq = _seq(service, DECIDED, untold)
    with session_scope(service.services.sessions) as session:
        _copies(session, Decision, kept, range(1001, 1003))
        _copies(session, RoomCorrection, room_kept, range(1001, 1002))
        _unreadable(session, told=[], untold=[seq])
    assert _problems(service) == (
        [f"decisions {UNTOLD}{untold}, 1001, 1002"],
        ["room corrections no audit entry records (added outside the service): 1001"],
    )
    problems = audit_verified(service)["problems"]
    assert any(p.startswith(f"entry {seq}: ") and "cannot be read (" in p for p in problems)


def test_a_row_gone_whose_entry_cannot_be_read_is_reported_deleted(service):
    """Its entry still names it, so it is missing from the table, as a row of a readable
    entry would be. A room correction's entry whose details cannot be read (SQLite) names
    no row: nothing of the table is then said of it (the chain reports the entry)."""
    gone, _ = _decisions(service, 2)
    room_gone, _ = _corrections(service, 2)
    seqs = [_seq(service, DECIDED, gone), _seq(service, ROOM, room_gone)]
    with session_scope(service.services.sessions) as session:
        sqlite = session.get_bind().dialect.name == "sqlite"
        _unreadable(session, told=seqs)
        session.execute(delete(Decision).where(Decision.id == gone))
        session.execute(delete(RoomCorrection).where(RoomCorrection.id == room_gone))
    rooms = [] if sqlite else [f"room correction {room_gone} (audit entry {seqs[1]}) was deleted"]
    assert _problems(service) == ([f"decision {gone} (audit entry {seqs[0]}) was deleted"], rooms)


def test_the_api_cli_and_audit_page_show_the_lines(service, tmp_path, database_url):
    """A row whose entry cannot be read, and the last line where an entry cannot tell its
    row, as the API, `shanyraq audit verify` and the audit page's check show them."""
    from tests.serving.cli_helpers import run_cli
    from tests.web.helpers import page_client

    told, untold = _decisions(service, 2)
    seqs = _seq(service, DECIDED, told), _seq(service, DECIDED, untold)
    with session_scope(service.services.sessions) as session:
        _unreadable(session, told=[seqs[0]], untold=[seqs[1]])
    lines = [
        f"decision {told}: its audit entry {seqs[0]} cannot be read (above), so it is not checked",
        f"decisions {UNTOLD}{untold}",
    ]
    assert audit_verified(service)["problems"][-2:] == lines
    # The page's list of entries filtered to the checks' own: it reads entries whole, and
    # fails on one that cannot be read, which the verification beside it is to report.
    page = page_client(service, "admin_national").get("/ui/audit?verify=true&code=audit_verified")
    assert page.status_code == 200 and all(line in page.text for line in lines), page.text
    config = serving_yaml(tmp_path / "serving.yaml", tmp_path, database_url, fusion_dir="")
    ran = run_cli("audit", "verify", "--config", config)
    assert ran.exit_code == 1, ran.output
    assert all(f"  {line}\n" in ran.output for line in lines), ran.output
