"""A family's decisions and room corrections read with who made each, newest first: the two
readers share one query (serving.rows_by_family) and answer as they did, other families' rows
left out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from serving.db.models import Base, Decision, RoomCorrection, User
from serving.decisions import decisions_of
from serving.photo_room import corrections_of

FAMILY, OTHER = "F1", "F2"
# Who writes each row, in the order written (ids ascending): two users, interleaved, the
# other family's rows between the family's.
WRITERS = [("amina", FAMILY), ("bolat", FAMILY), ("amina", OTHER), ("bolat", FAMILY)]
WRITERS += [("amina", FAMILY), ("bolat", OTHER)]


@pytest.fixture
def session(tmp_path) -> Iterator[Session]:
    engine = create_engine(f"sqlite:///{tmp_path / 'rows.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        for name in ("amina", "bolat"):
            session.add(User(username=name, password_hash="-", role="commission", region="R1"))
        session.flush()
        yield session
    engine.dispose()


def user_ids(session: Session) -> dict[str, int]:
    return {user.username: user.id for user in session.query(User)}


def written(session: Session, make: Any) -> list[tuple[Any, str]]:
    """The rows `make(index, family, user_id)` makes for WRITERS, added in order; each with
    its writer's name."""
    ids = user_ids(session)
    rows = [(make(i, family, ids[name]), name) for i, (name, family) in enumerate(WRITERS)]
    for row, _ in rows:
        session.add(row)
        session.flush()  # ids in the order written
    return rows


def decision(index: int, family: str, user_id: int) -> Decision:
    return Decision(
        assessment_id=index + 1, family_id=family, region="R1", kind="accept",
        model_level=2, decided_level=2, reason=f"decision {index}", decided_by=user_id,
    )  # fmt: skip


def correction(index: int, family: str, user_id: int) -> RoomCorrection:
    return RoomCorrection(
        photo_id=10 + index // 2 % 2, family_id=family, previous_room_hint=None,
        room_hint="kitchen", reason=f"correction {index}", corrected_by=user_id,
    )  # fmt: skip


def test_decisions_of_a_family_newest_first_with_who_decided(session):
    rows = written(session, decision)
    mine = [(row, name) for row, name in rows if row.family_id == FAMILY]
    expected = [(row.id, name) for row, name in sorted(mine, key=lambda r: -r[0].id)]
    found = decisions_of(session, FAMILY)
    assert [(row.id, name) for row, name in found] == expected
    assert {name for _, name in found} == {"amina", "bolat"}
    assert all(isinstance(row, Decision) for row, _ in found)
    assert decisions_of(session, "F9") == []


def test_corrections_of_a_family_by_photo_newest_first_with_who_corrected(session):
    rows = written(session, correction)
    expected: dict[int, list[tuple[int, str]]] = {}
    for row, name in sorted(rows, key=lambda r: -r[0].id):
        if row.family_id == FAMILY:
            expected.setdefault(row.photo_id, []).append((row.id, name))
    found = corrections_of(session, FAMILY)
    assert {photo: [(row.id, name) for row, name in kept] for photo, kept in found.items()} == (
        expected
    )
    # Two photos; photo 10 corrected three times, by both users.
    assert sorted(expected) == [10, 11] and {name for _, name in expected[10]} == {"amina", "bolat"}
    assert all(isinstance(row, RoomCorrection) for kept in found.values() for row, _ in kept)
    assert corrections_of(session, "F9") == {}
