"""Found by the review of `db upgrade`'s in-use check: where the SQLite check cannot be made (not
Linux, a -shm file it cannot open, a kernel that does not answer) the upgrade is refused saying
so, not run as if nobody had the database open; on PostgreSQL, the sessions of another role,
whose kind and address this role cannot see, count too. (A process that opens the database
while it is migrated: test_db_upgrade_lock.py.)"""

from __future__ import annotations

import errno
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from serving.db_upgrade import DatabaseInUseError
from serving.sqlite_holders import sqlite_holder
from tests.serving.cli_helpers import (
    OLD_REVISION,
    database_behind,
    error_code,
    head_revision,
    holding_open,
    run_cli,
    schema_revision,
    sqlite_url,
)


def _database(tmp_path: Path) -> Path:
    return tmp_path / "data" / "shanyraq.db"


def _assert_cannot_tell(refused: Any, url: str) -> None:
    assert error_code(refused) == "database_in_use", refused.output
    message = str(refused.exception)
    assert "cannot tell whether another process has" in message
    assert "shanyraq.db-shm" in message and "--force" in message
    assert schema_revision(url) == OLD_REVISION  # nothing changed


# --- SQLite: where the check cannot be made, it says so -------------------------------------


def test_off_linux_the_upgrade_is_refused_as_it_cannot_tell(tmp_path, monkeypatch):
    # Before: sqlite_holder answered None ("nobody") off Linux, and the upgrade ran.
    url = sqlite_url(tmp_path)
    config = database_behind(tmp_path, url)
    monkeypatch.setattr(sys, "platform", "darwin")

    with holding_open(_database(tmp_path)):  # the -shm file exists while it is open
        refused = run_cli("db", "upgrade", "--config", config)

    _assert_cannot_tell(refused, url)
    assert "Linux only" in str(refused.exception)
    # Without the -shm file no connection has it open, on any system: upgraded.
    upgraded = run_cli("db", "upgrade", "--config", config)
    assert upgraded.exit_code == 0, upgraded.output
    assert schema_revision(url) == head_revision()


def test_a_kernel_that_does_not_answer_refuses_the_upgrade(tmp_path, monkeypatch):
    # Before: an OSError from F_GETLK (e.g. a file system without locks) read as "nobody".
    url = sqlite_url(tmp_path)
    config = database_behind(tmp_path, url)

    def no_locks(*_args: Any) -> bytes:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    with holding_open(_database(tmp_path)):  # the -shm file exists while it is open
        monkeypatch.setattr("fcntl.fcntl", no_locks)
        refused = run_cli("db", "upgrade", "--config", config)
        monkeypatch.undo()

    _assert_cannot_tell(refused, url)
    assert os.strerror(errno.ENOLCK) in str(refused.exception)


def test_a_shm_file_it_cannot_open_is_not_read_as_nobody(tmp_path, monkeypatch):
    # Before: any OSError opening the -shm file (no permission) read as "no -shm: nobody".
    url = sqlite_url(tmp_path)
    database_behind(tmp_path, url)
    database = _database(tmp_path)
    opened = os.open

    def refuse_shm(path: Any, *args: Any) -> int:
        if str(path).endswith("-shm"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return opened(path, *args)

    with holding_open(database):
        monkeypatch.setattr(os, "open", refuse_shm)
        with pytest.raises(DatabaseInUseError, match=r"cannot tell .*Permission denied"):
            sqlite_holder(database)
    monkeypatch.undo()
    assert sqlite_holder(database) is None  # a missing -shm still means nobody has it open


# --- a process that opens the database while it is migrated ---------------------------------


def test_an_upgrade_nobody_interrupts_exits_0_and_warns_of_nothing(tmp_path):
    url = sqlite_url(tmp_path)
    config = database_behind(tmp_path, url)

    upgraded = run_cli("db", "upgrade", "--config", config)

    assert upgraded.exit_code == 0, upgraded.output
    assert "warning" not in upgraded.stderr
    assert schema_revision(url) == head_revision()


# --- PostgreSQL: another role's sessions --------------------------------------------------


def test_a_service_running_as_another_role_is_seen(tmp_path, postgres_server):
    # Before: pg_stat_activity shows another role's session with no backend_type to a role
    # without pg_read_all_stats, and the filter on 'client backend' dropped it: an upgrade run
    # as the owner of the database (not a superuser) did not see the service.
    import psycopg

    admin = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    suffix = uuid.uuid4().hex[:8]
    owner, service, name = f"owner_{suffix}", f"service_{suffix}", f"db_{suffix}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE ROLE "{owner}" LOGIN')
        connection.execute(f'CREATE ROLE "{service}" LOGIN')
        connection.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
    server = postgres_server.rsplit("/", 1)[0].replace("shanyraq@", "{}@")
    url = server.format(owner) + f"/{name}"
    config = database_behind(tmp_path, url)
    as_service = server.format(service).replace("postgresql+psycopg://", "postgresql://")

    with psycopg.connect(f"{as_service}/{name}") as running:  # an earlier version: no name
        refused = run_cli("db", "upgrade", "--config", config)
        assert error_code(refused) == "database_in_use", refused.output
        message = str(refused.exception)
        assert f"session {running.info.backend_pid} of {service} " in message
        assert "hidden from this role" in message
        assert schema_revision(url) == OLD_REVISION

    upgraded = run_cli("db", "upgrade", "--config", config)
    assert upgraded.exit_code == 0, upgraded.output
