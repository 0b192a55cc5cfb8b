"""The read-only commands (`audit verify`, `db status`, `assessments refresh --dry-run`) read a
database this process cannot write, as on a read-only mount or a snapshot, and change nothing;
a command that writes says why it cannot, not that database_url is wrong.

How "read-only" is made: as root (os.geteuid() == 0), permissions do not stop writes, so the
database and its folder are made immutable (`chattr +i`: nothing, root included, can write,
create or remove files there; the test skips where the file system does not support it);
otherwise they lose their write permission. Either way SQLite cannot make the -shm file a WAL
database needs, as on a read-only mount. A mount itself is not made (it needs privileges the
tests do not assume)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shanyraq.cli import build_app
from shanyraq.errors import ShanyraqError
from tests.serving.helpers import PASSWORD


def _run(*args: str | Path) -> Any:
    return CliRunner().invoke(build_app(), [str(arg) for arg in args])


def _code(result: Any) -> str | None:
    return result.exception.code if isinstance(result.exception, ShanyraqError) else None


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """`paths` (files and folders) not writable by this process while inside."""
    if os.geteuid() == 0:
        try:
            for path in paths:
                subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            for path in paths:
                subprocess.run(["chattr", "-i", str(path)], capture_output=True)
            pytest.skip("running as root and chattr +i is not supported here")
        try:
            yield
        finally:
            for path in paths:
                subprocess.run(["chattr", "-i", str(path)], check=True)
        return
    modes = {path: path.stat().st_mode for path in paths}
    for path in paths:
        path.chmod(0o500 if path.is_dir() else 0o400)
    try:
        yield
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


@pytest.fixture
def service(tmp_path: Path) -> Path:
    """The config of a service database made by `users add` (WAL mode, stopped: no -wal)."""
    config = tmp_path / "serving.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\ndatabase_url: ''\n")
    added = _run("users", "add", "amina", "--role", "admin", "--password", PASSWORD,
                 "--config", config)  # fmt: skip
    assert added.exit_code == 0, added.output
    database = tmp_path / "data" / "shanyraq.db"
    connection = sqlite3.connect(database)  # the last to close: it removes -wal and -shm
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    connection.close()
    assert not database.with_name("shanyraq.db-shm").exists()
    return config


def test_read_only_commands_read_a_database_that_cannot_be_written(tmp_path, service):
    data = tmp_path / "data"
    before = _snapshot(data)
    with read_only(data / "shanyraq.db", data):
        assert not os.access(data, os.W_OK)  # what the commands meet
        verified = _run("audit", "verify", "--config", service)
        status = _run("db", "status", "--config", service)
        dry = _run("assessments", "refresh", "--as", "amina", "--dry-run", "--config", service)
    assert verified.exit_code == 0, verified.output
    assert "audit log intact: 1 entries" in verified.output
    assert status.exit_code == 0, status.output
    assert "upgrade needed: no" in status.output
    assert dry.exit_code == 0, dry.output
    assert "stale assessments in every region: 0" in dry.output
    assert _snapshot(data) == before


def test_a_writing_command_says_the_database_cannot_be_written_here(tmp_path, service):
    data = tmp_path / "data"
    with read_only(data / "shanyraq.db", data):
        refused = _run("users", "add", "bolat", "--role", "admin", "--password", PASSWORD,
                       "--config", service)  # fmt: skip
    assert _code(refused) == "database_unavailable", refused.output
    message = str(refused.exception)
    assert "cannot write" in message and "read-only file system" in message
    assert "check database_url" not in message


def test_a_wal_with_commits_that_cannot_be_read_here_is_explained(tmp_path, service):
    """A -wal holding commits without its -shm (copied so): only a writer could read it."""
    data, copy = tmp_path / "data", tmp_path / "copy"
    copy.mkdir()
    writer = sqlite3.connect(data / "shanyraq.db")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE scratch (x INTEGER)")
    writer.commit()
    for name in ("shanyraq.db", "shanyraq.db-wal", "secret_key", "audit_anchor.log"):
        (copy / name).write_bytes((data / name).read_bytes())
    writer.close()
    config = tmp_path / "copy.yaml"
    config.write_text(f"data_dir: {copy}\ndatabase_url: ''\n")
    with read_only(copy / "shanyraq.db", copy / "shanyraq.db-wal", copy):
        refused = _run("audit", "verify", "--config", config)
    assert _code(refused) == "database_unavailable", refused.output
    message = str(refused.exception)
    assert "shanyraq.db-wal" in message and "copy the data folder" in message


def test_the_read_only_connection_is_chosen_by_the_write_check(tmp_path, service, monkeypatch):
    """Runs as any user: the engine of a read-only command connects through
    connect_read_only exactly when the database cannot be written (the check patched)."""
    from serving.db import session

    used: list[Path] = []
    connect = session.connect_read_only
    monkeypatch.setattr(session, "connect_read_only", lambda f: used.append(f) or connect(f))
    verified = _run("audit", "verify", "--config", service)
    assert verified.exit_code == 0 and used == []
    monkeypatch.setattr(session, "writable", lambda path: False)
    verified = _run("audit", "verify", "--config", service)
    assert verified.exit_code == 0, verified.output
    assert used and all(f == tmp_path / "data" / "shanyraq.db" for f in used)
