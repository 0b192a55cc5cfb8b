"""Counting the SQL statements an app sends, for tests that bound a page's queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event


@contextmanager
def statements_sent(web) -> Iterator[list[str]]:
    """Every SQL statement the app `web` sends (its writer and reader engines) while the block
    runs, in order."""
    seen: list[str] = []
    engines = {web.services.db_engine, web.services.read_engine or web.services.db_engine}

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)
