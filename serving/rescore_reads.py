"""Where a re-scoring run reads: the listings of what it scores (the pages of photos, the
store-damage outcomes to check for restored files) in deferred transactions.

The writing engine begins every transaction `BEGIN IMMEDIATE` on SQLite (serving/db/session.py),
taking the database's write lock at the start: a listing run there held it for its query, and
uploads arriving meanwhile waited (then failed, "database is locked", once a longer listing
passed their busy timeout). The listings run on `make_read_engine`'s engine instead: on a SQLite
file a second engine, whose deferred transactions read a snapshot of what is committed (in WAL
mode: every commit before the read began, the run's own included) without the write lock; on
PostgreSQL, or an in-memory SQLite database, the engine itself, as before. One read engine
serves a whole run and is disposed at its end (`read_sessions`). Nothing a run writes depends
on a listing being in the writing transaction: each write re-checks, under the write lock, what
the listing found (a compare-and-set cursor, ON CONFLICT DO NOTHING, the damage still recorded).
Split from serving/rescore.py, which scores the pages and writes the outcomes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from serving.db.models import RescoredScore
from serving.db.session import make_read_engine, make_read_session_factory


@contextmanager
def read_sessions(sessions: sessionmaker[Session]) -> Iterator[sessionmaker[Session]]:
    """Sessions reading the database `sessions` write, in deferred transactions (read-only:
    a flush of a change is refused), on one read engine disposed on leaving. Sessions bound to
    a connection, not an engine, read through it (a second engine would not see its data)."""
    with sessions() as session:
        bind = session.get_bind()  # no transaction begun
    if not isinstance(bind, Engine):
        yield sessions
        return
    read_engine = make_read_engine(bind)
    try:
        yield make_read_session_factory(read_engine)
    finally:
        if read_engine is not bind:  # the engine itself elsewhere: its owner disposes it
            read_engine.dispose()


def scores_for(session: Session, model_version: str) -> dict[int, RescoredScore]:
    """Every recorded outcome under `model_version`, by photo id."""
    rows = session.execute(
        select(RescoredScore).where(RescoredScore.model_version == model_version)
    ).scalars()
    return {row.photo_id: row for row in rows}
