"""Migrations match the models on SQLite and PostgreSQL; SQLite runs WAL with synchronous=FULL;
reads never queue behind a writer and cannot write."""

from __future__ import annotations

import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from serving.db.models import Base, User
from serving.db.session import (
    ReadOnlySessionError,
    make_engine,
    make_read_engine,
    make_read_session_factory,
    make_session_factory,
    session_scope,
)
from serving.migrations import upgrade


def test_migrations_create_exactly_the_models(database_url):
    upgrade(database_url)
    upgrade(database_url)  # idempotent
    engine = make_engine(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        head = connection.execute(text("SELECT seq, hash FROM audit_head")).one()
    engine.dispose()
    assert diff == [], diff
    assert tuple(head) == (0, "0" * 64)


def test_sqlite_pragmas(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_reads_do_not_wait_for_a_writer_and_cannot_write(database_url):
    # Token and region checks read through the read engine; on SQLite a writer holding the
    # write lock (an upload being filed) must not make them queue.
    upgrade(database_url)
    engine = make_engine(database_url)
    read_engine = make_read_engine(engine)
    writes, reads = make_session_factory(engine), make_read_session_factory(read_engine)
    with session_scope(writes) as writer:
        writer.add(User(username="w1", password_hash="x", role="admin", region=None))
        writer.flush()  # the write transaction is open and holds the lock
        started = time.monotonic()
        with session_scope(reads) as reader:
            names = reader.execute(select(User.username)).scalars().all()
        assert time.monotonic() - started < 5  # busy_timeout is 30 s: waiting would show
        assert "w1" not in names  # the reader sees the last committed snapshot
    with session_scope(reads) as reader:
        assert reader.execute(select(User.username)).scalars().all() == ["w1"]
    with pytest.raises(ReadOnlySessionError), session_scope(reads) as reader:
        reader.add(User(username="w2", password_hash="x", role="admin", region=None))
        reader.flush()
    with session_scope(reads) as reader:
        assert reader.execute(select(User.username)).scalars().all() == ["w1"]
    read_engine.dispose()
    engine.dispose()
