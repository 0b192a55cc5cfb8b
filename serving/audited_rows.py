"""A table's rows checked against the hash-chained audit entries that pin them: the one walk
of the decisions' check (serving.decision_check) and the room corrections' check
(serving.room_check), each of which says only what differs (`AuditedTable`): the entries'
action, the table and its sender column, the row an entry records, what of a row differs
from its entry, and the nouns of the lines.

The lines read, in the entries' order: "<row> N (audit entry S) was deleted", "<row> N:
its a, b differ from audit entry S: changed after it was recorded" and, for a row whose entry
the chain's walk reports as unreadable but still tells which row it records, "<row> N: its
audit entry S cannot be read (above), so it is not checked"; then, last, "<rows> no audit
entry records (added outside the service): ids" for rows no entry records. Where an entry
that cannot be read does not tell its row, the rows of that line may be its: the line then
reads "<rows> no readable audit entry records (added outside the service, or recorded by an
entry that cannot be read: see above): ids"."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from serving.audit_read import StoredEntry, entries_query, read_entry
from serving.db.models import AuditEntry, User

BATCH = 500  # audit entries read at a time
# The last line's words: no entry records the rows; or none readable does, where an entry
# that cannot be read does not tell its row (it may be one of them).
_UNAUDITED = "no audit entry records (added outside the service)"
_UNTOLD = (
    "no readable audit entry records (added outside the service, or recorded by an entry that "
    "cannot be read: see above)"
)


@dataclass(frozen=True)
class AuditedTable:
    """What the walk needs of one table: `action`, the entries that pin its rows; `model`,
    the table (its `id` the rows' ids); `sender`, its column naming the user who sent a row;
    `row_id`, the row an entry records (None: none, as for an entry written before the
    table); `changed`, the names of what of a row (sent by a username, None: the user is
    gone) differs from its entry; `row` and `rows`, the nouns of the lines ("decision",
    "decisions")."""

    action: str
    model: Any
    sender: InstrumentedAttribute[int]
    row_id: Callable[[StoredEntry], int | None]
    changed: Callable[[Any, str | None, StoredEntry], list[str]]
    row: str
    rows: str


def audited_row_problems(session: Session, table: AuditedTable) -> list[str]:
    """How `table` differs from its entries: a row changed after its entry, one deleted, one
    whose entry cannot be read (in the entries' order), and, last, those no entry records."""
    problems: list[str] = []
    audited: set[int] = set()
    untold = False  # an entry that cannot be read tells no row: it may record any of them
    model = table.model
    # The rows first: each was committed with its entry, so the entries read next hold them
    # all (one recorded meanwhile is not taken for one added outside the service).
    kept = list(session.execute(select(model.id).order_by(model.id)).scalars())
    for batch in audited_batches(session, table.action):
        # Two entries of a batch naming one row: the later is compared, at the earlier's place.
        entries: dict[int, StoredEntry] = {}
        for entry in batch:
            if (number := table.row_id(entry)) is not None:
                entries[number] = entry
            elif entry.link is None:
                untold = True
        found = {
            row.id: (row, username)
            for row, username in session.execute(
                select(model, User.username)
                .outerjoin(User, User.id == table.sender)
                .where(model.id.in_(list(entries)))
            ).all()
        }
        for number, entry in entries.items():
            audited.add(number)
            if (problem := _row_problem(table, number, entry, found.get(number))) is not None:
                problems.append(problem)
    unaudited = [i for i in kept if i not in audited]
    if unaudited:
        problems.append(f"{table.rows} {_UNTOLD if untold else _UNAUDITED}: {ids_shown(unaudited)}")
    return problems


def _row_problem(
    table: AuditedTable, number: int, entry: StoredEntry, found: tuple[Any, str | None] | None
) -> str | None:
    """What is wrong with row `number` (`found`: it and its sender's username; None: not in
    the table) as `entry` records it; None: nothing. An entry that cannot be read still says
    the row it records was there: only what the row holds is not checked."""
    if found is None:
        return f"{table.row} {number} (audit entry {entry.seq}) was deleted"
    if entry.link is None:
        return (
            f"{table.row} {number}: its audit entry {entry.seq} cannot be read (above), so it "
            "is not checked"
        )
    if changed := table.changed(*found, entry):
        return (
            f"{table.row} {number}: its {', '.join(changed)} differ from audit entry "
            f"{entry.seq}: changed after it was recorded"
        )
    return None


def audited_batches(session: Session, action: str) -> Iterator[list[StoredEntry]]:
    """The `action` entries, oldest first, BATCH at a time. Read as stored
    (serving.audit_read), as the chain's walk reads them: an entry it reports as unreadable
    (no `link`) is yielded as far as it could be read, not a crash here."""
    after = 0
    while True:
        rows = session.execute(
            entries_query(session)
            .where(AuditEntry.action == action, AuditEntry.seq > after)
            .order_by(AuditEntry.seq)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        after = rows[-1].seq
        yield [read_entry(row) for row in rows]


def ids_shown(ids: list[int]) -> str:
    """Row ids for a problem's line: the first ten, and "..." for more."""
    return ", ".join(map(str, ids[:10])) + (" ..." if len(ids) > 10 else "")


def entry_details(entry: StoredEntry) -> dict[str, Any]:
    """The entry's details as a dict ({}: they are not one, so nothing of them matches)."""
    return entry.details if isinstance(entry.details, dict) else {}
