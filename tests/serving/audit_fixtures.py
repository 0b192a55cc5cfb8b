"""Fixtures of the audit-log tests: the migrated database on each backend, and a SQLite one
that keeps any value in any column."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from serving.db.session import make_engine
from serving.migrations import upgrade


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    made = make_engine(database_url)
    yield made
    made.dispose()


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:
    """SQLite keeps any value in any column: a JSON column can be given text that is not."""
    url = f"sqlite:///{tmp_path / 'service.db'}"
    upgrade(url)
    made = make_engine(url)
    yield made
    made.dispose()
