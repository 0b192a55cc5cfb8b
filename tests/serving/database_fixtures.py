"""Database fixtures of the service and page tests: a real PostgreSQL server
(scripts/postgres.sh), started once per test process, and each test's database on SQLite and
on that server. Registered in tests/conftest.py, so every folder shares the one server."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving.helpers import ROOT, fresh_postgres_db


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of a throwaway PostgreSQL cluster on 127.0.0.1 (installed with apt-get if missing)."""
    folder = Path(tempfile.mkdtemp(prefix="shanyraq-pg-"))
    folder.chmod(0o755)  # the server may run as the `postgres` user
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "postgres.sh"), str(folder / "cluster")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode == 3:
        pytest.skip(
            f"PostgreSQL cannot be installed here (apt impossible): {result.stderr.strip()}"
        )
    assert result.returncode == 0, f"postgres.sh failed:\n{result.stderr}"
    url = result.stdout.strip().splitlines()[-1]
    yield url
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "postgres.sh"), "--stop", str(folder / "cluster")]
    )
    remove_in_background(folder)


def remove_in_background(folder: Path) -> None:
    """Delete `folder` in a process of its own that this one does not wait for. The cluster
    keeps a database for every test that ran on PostgreSQL: 3.6 GB in 114,000 files for 300 of
    them, 22 s to delete on an idle machine; deleted here, it was the last minute of each test
    process of a whole run (both at once, at the end)."""
    subprocess.run(
        ["sh", "-c", 'rm -rf -- "$0" </dev/null >/dev/null 2>&1 &', str(folder)], check=True
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """This test's database: a SQLite file in tmp_path, then a fresh one on `postgres_server`
    (the server starts only for a test that runs on PostgreSQL)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'service.db'}"
    return fresh_postgres_db(request.getfixturevalue("postgres_server"))
