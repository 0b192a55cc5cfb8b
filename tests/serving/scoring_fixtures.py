"""Fixtures of the photo-scoring service tests: a small photo model made once per session, and
a SQLite database (for tests whose refusals come before anything touches the database)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    from shanyraq.taxonomy import get_taxonomy
    from tests.vision.engine_fixtures import make_artifact

    return make_artifact(tmp_path_factory.mktemp("model"), get_taxonomy(), seed=3)


@pytest.fixture
def database_url(tmp_path):  # type: ignore[no-untyped-def]
    """SQLite only: the refusal comes before anything touches the database."""
    return f"sqlite:///{tmp_path / 'service.db'}"
