"""Task p483: how long a start-up migration waits for alembic_version on PostgreSQL is a
setting (`migration_lock_wait_s`), honoured by every start that migrates; and `db upgrade`
names every process that has a SQLite database open, not one of them."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from serving import sqlite_holders as holders_module
from serving.app import build_services
from serving.cli import check_database, load_settings
from serving.core.config import load_serving_settings
from serving.db_upgrade import LOCK_WAIT_S, DatabaseInUseError, upgrade_database
from serving.sqlite_holders import sqlite_holder, sqlite_holders
from shanyraq.errors import ConfigError
from tests.serving.cli_helpers import (
    OLD_REVISION,
    database_behind,
    head_revision,
    holding_open,
    schema_revision,
    serving_config,
    sqlite_url,
)
from tests.serving.migration_helpers import WAIT_S, alembic_reader

SETTING = "migration_lock_wait_s"


def _with_setting(config: Path, value: str) -> Path:
    """`config` with `migration_lock_wait_s: value`, as a site sets it, and auto_migrate on."""
    text = config.read_text().replace("auto_migrate: false", "auto_migrate: true")
    config.write_text(text + f"{SETTING}: {value}\n")
    return config


# --- 1. the setting ------------------------------------------------------------------------


def test_the_setting_defaults_to_the_wait_of_db_upgrade_and_is_read_from_serving_yaml(tmp_path):
    url = sqlite_url(tmp_path)
    assert load_settings(serving_config(tmp_path, url)).migration_lock_wait_s == LOCK_WAIT_S == 600
    assert (
        load_settings(_with_setting(serving_config(tmp_path, url), "2.5")).migration_lock_wait_s
        == 2.5
    )
    assert load_serving_settings().migration_lock_wait_s == 600  # the shipped serving.yaml


@pytest.mark.parametrize(
    ("value", "said"),
    [("0", "greater than 0"), ("-5", "greater than 0"), (".inf", "finite number"),
     ("100000", "less than or equal to 86400"), ("soon", "valid number")],
)  # fmt: skip
def test_a_wait_that_is_not_a_positive_number_of_seconds_is_refused_naming_it(
    tmp_path, value, said
):
    config = _with_setting(serving_config(tmp_path, sqlite_url(tmp_path)), value)
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    message = refused.value.message
    assert f"key '{SETTING}'" in message and said in message, message


def _refused_after(start: object, url: str) -> tuple[DatabaseInUseError, float]:
    """`start()` while a pg_dump-like session holds alembic_version: its refusal and how long
    it took. A start that would wait longer than WAIT_S gets the lock then (the reader ends),
    so a broken run fails instead of hanging for 600 s."""
    with alembic_reader(url) as reader:
        guard = threading.Timer(WAIT_S, reader.rollback)
        guard.start()
        began = time.monotonic()
        try:
            with pytest.raises(DatabaseInUseError) as refused:
                start()  # type: ignore[operator]
        finally:
            guard.cancel()
        return refused.value, time.monotonic() - began


def test_a_start_behind_the_head_refuses_after_the_configured_wait(behind_pg):
    # Before: the setting did not exist (refused as an unknown key), and a start waited
    # LOCK_WAIT_S (600 s) whatever the site wanted.
    url, config = behind_pg
    settings = load_settings(_with_setting(config, "2"))
    assert settings.auto_migrate

    def serve_check() -> None:  # as `serve`, `users`, `rescore`, ... open the database
        check_database(settings, may_create=False, migrate=settings.auto_migrate)

    def app_start() -> None:  # as the app's own start (create_app's lifespan) migrates
        build_services(settings, service_start=True)

    for start in (serve_check, app_start):
        refused, took = _refused_after(start, url)
        assert 1.9 <= took < 30, took
        assert "stayed locked past 2 s" in refused.message, refused.message
        assert "session " in refused.message and "nothing changed" in refused.message
        assert schema_revision(url) == OLD_REVISION
    check_database(settings, may_create=False, migrate=True)  # nobody holding it: migrates
    assert schema_revision(url) == head_revision()


# --- 2. every process that has a SQLite database open --------------------------------------


def test_db_upgrade_names_every_process_that_has_the_database_open(tmp_path):
    # Before: F_GETLK names one lock holder, so the refusal named one of the two.
    url = sqlite_url(tmp_path)
    settings = load_settings(database_behind(tmp_path, url))
    database = tmp_path / "data" / "shanyraq.db"
    with ExitStack() as stack:
        service = stack.enter_context(holding_open(database))
        users_command = stack.enter_context(holding_open(database))
        assert sqlite_holders(database) == sorted([service, users_command])
        assert sqlite_holder(database) in (service, users_command)
        with pytest.raises(DatabaseInUseError) as refused:
            upgrade_database(settings)
    message = refused.value.message
    assert f"process {service} (" in message and f"process {users_command} (" in message
    assert "stop the service" in message, message
    assert schema_revision(url) == OLD_REVISION
    assert sqlite_holders(database) == []  # both gone: the -shm file with them


def test_without_proc_locks_the_one_the_kernel_names_is_named(tmp_path, monkeypatch):
    url = sqlite_url(tmp_path)
    database_behind(tmp_path, url)
    database = tmp_path / "data" / "shanyraq.db"
    with ExitStack() as stack:
        pids = [stack.enter_context(holding_open(database)) for _ in range(2)]
        for unreadable in (tmp_path / "no such file", tmp_path):  # missing; a folder
            monkeypatch.setattr(holders_module, "PROC_LOCKS", unreadable)
            found = sqlite_holders(database)
            assert len(found) == 1 and found[0] in pids, (found, pids)
        # /proc/locks that lists none of them (e.g. a device it numbers otherwise): F_GETLK's
        (tmp_path / "locks").write_text("1: POSIX  ADVISORY  READ 1 00:00:1 0 EOF\n")
        monkeypatch.setattr(holders_module, "PROC_LOCKS", tmp_path / "locks")
        found = sqlite_holders(database)
        assert len(found) == 1 and found[0] in pids, (found, pids)
