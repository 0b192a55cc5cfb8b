"""Migrations match the models on SQLite and PostgreSQL; SQLite runs WAL with synchronous=FULL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from serving.db.models import Base
from serving.db.session import make_engine
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
