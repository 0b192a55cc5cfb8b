"""A fixture of the photo-scoring service tests: a SQLite database, for tests whose refusals
come before anything touches the database. A module borrows it by assignment
(`database_url = scoring_fixtures.database_url`) to override the folder's (SQLite, then
PostgreSQL) for its tests only; their photo model is the `model_dir` fixture of
tests/serving/conftest.py."""

from __future__ import annotations

import pytest


@pytest.fixture
def database_url(tmp_path):  # type: ignore[no-untyped-def]
    """SQLite only: the refusal comes before anything touches the database."""
    return f"sqlite:///{tmp_path / 'service.db'}"
