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
from tests.serving.migrated_postgres import migrated_postgres_db


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of a throwaway PostgreSQL cluster on 127.0.0.1 (installed with apt-get if missing).
    Its folder's name holds a space and a Kazakh letter, as a site's folders may: the script
    hands the socket folder to postgres through pg_ctl's shell (a space split it before)."""
    folder = Path(tempfile.mkdtemp(prefix="shanyraq-pg Ң-"))
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
    (the server starts only for a test that runs on PostgreSQL). An empty database, except on
    PostgreSQL for a test whose database only its apps' start reads (`only_apps_start_on`):
    there it is the migrated copy that start would have made of the empty one, made at once."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'service.db'}"
    server = request.getfixturevalue("postgres_server")
    if only_apps_start_on(request):
        return migrated_postgres_db(server)
    return fresh_postgres_db(server)


# The fixtures that hand `database_url` to an app's start and to nothing else: an empty
# database is replaced there by a migrated copy (tests/serving/conftest.py, migrated_if_new).
APP_STARTS = frozenset({"make_service", "restart"})


def only_apps_start_on(request: pytest.FixtureRequest) -> bool:
    """Whether `database_url` reaches the test only through APP_STARTS: neither the test
    itself nor any other fixture it uses asks for it, and it is not overridden (a fixture of
    that name using the one it overrides). Where pytest's fixture information cannot be read,
    no: the empty database, as before."""
    info = getattr(request.node, "_fixtureinfo", None)
    argnames = getattr(info, "argnames", None)
    name2fixturedefs = getattr(info, "name2fixturedefs", None)
    if argnames is None or name2fixturedefs is None or "database_url" in argnames:
        return False
    for name, definitions in name2fixturedefs.items():
        if name == "database_url":
            asks = len(definitions) != 1
        else:
            asks = name not in APP_STARTS and any(
                "database_url" in definition.argnames for definition in definitions
            )
        if asks:
            return False
    return True
