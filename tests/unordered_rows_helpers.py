"""SQLite gives the rows of a query without ORDER BY in reverse, in every test process
(tests/conftest.py puts it in place), so that nothing the product lists can lean on the order
a database happens to return rows in.

PostgreSQL returns such rows as it finds them: as written while a table is new, in another
order once rows were deleted or updated. A new test database is always the first case, so a
listing that followed the row order passed there and went wrong on a long-lived database
(serving.latest_assessments.latest_of did: a promotion's stale families came as F2, F1).
SQLite's `reverse_unordered_selects` turns the row order of every unordered query around,
which such a listing cannot pass. Processes the tests start (a live server, a command run as
a subprocess) keep SQLite's own order.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


def _reversed(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA reverse_unordered_selects = ON").close()


def unordered_rows_reversed() -> None:
    """Every SQLite connection an engine of this process opens from now on returns the rows
    of its unordered queries in reverse."""
    if not event.contains(Engine, "connect", _reversed):
        event.listen(Engine, "connect", _reversed)
