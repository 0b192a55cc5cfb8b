"""A family's rows of one table with who wrote each: what the family page and the API show of
its decisions (serving.decisions) and room corrections (serving.photo_room)."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from serving.db.models import Decision, RoomCorrection, User

# The tables read so: each has a family and the user who wrote the row.
Row = TypeVar("Row", Decision, RoomCorrection)


def rows_by_family(
    session: Session, table: type[Row], family_id: str, *, by: InstrumentedAttribute[int]
) -> list[tuple[Row, str]]:
    """The family's rows of `table`, newest first (the last written: the highest id), each
    with the username of the user its column `by` names; read in one query."""
    rows = session.execute(
        select(table, User.username)
        .join(User, User.id == by)
        .where(table.family_id == family_id)
        .order_by(table.id.desc())
    ).all()
    return [(row, username) for row, username in rows]
