"""Review of the start-up migration (serving.migrations.upgrade through env.py's own
connection: `open_database(url, migrate=True)`, `serve` with auto_migrate, create_app): a
migration that fails is `migration_failed` naming it, as `db upgrade` reports it, not the raw
error; and the audit head is sealed in the migration's own transaction, not in one after it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from serving import audit
from serving.cli import load_settings
from serving.db.session import make_engine
from serving.migrations import MigrationFailedError, upgrade
from tests.serving.cli_helpers import (
    OLD_REVISION,
    database_behind,
    head_revision,
    schema_revision,
    sqlite_url,
)
from tests.serving.helpers import fresh_postgres_db
from tests.serving.migration_helpers import Injected, failing_last_migration


def _upgrade_fails_naming_the_last(url: str, key: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """upgrade(url, seal_with=key), its last migration failing: migration_failed naming it."""
    with monkeypatch.context() as patch:
        failing_last_migration(patch)
        with pytest.raises(MigrationFailedError) as failed:
            upgrade(url, seal_with=key)
    assert isinstance(failed.value.__cause__, Injected)
    assert f"migration {head_revision()} " in failed.value.message


def test_a_failing_migration_is_named_by_upgrade_with_its_key_too(tmp_path, monkeypatch):
    # `serve` and create_app call upgrade(url, seal_with=key).
    url = sqlite_url(tmp_path)
    key = load_settings(database_behind(tmp_path, url)).signing_key(create=False)

    _upgrade_fails_naming_the_last(url, key, monkeypatch)
    assert schema_revision(url) == OLD_REVISION


def _unseal(tmp_path: Path) -> None:
    """The audit head as migration 0003 left it: no MAC."""
    connection = sqlite3.connect(tmp_path / "data" / "shanyraq.db")
    try:
        with connection:
            connection.execute("UPDATE audit_head SET mac = NULL WHERE id = 1")
    finally:
        connection.close()


def _head_mac(tmp_path: Path) -> bytes | None:
    connection = sqlite3.connect(tmp_path / "data" / "shanyraq.db")
    try:
        row = connection.execute("SELECT mac FROM audit_head WHERE id = 1").fetchone()
        return row[0] if row is not None else None
    finally:
        connection.close()


def _crash(*_args: object) -> bool:
    raise KeyboardInterrupt  # the process stopped while sealing


def test_the_seal_is_in_the_migrations_transaction(tmp_path, monkeypatch):
    # Before: the migration committed, then the seal ran in a transaction of its own; a crash
    # in between left the head unsealed on a migrated database (no later start seals it).
    url = sqlite_url(tmp_path)
    key = load_settings(database_behind(tmp_path, url)).signing_key(create=False)
    _unseal(tmp_path)

    with monkeypatch.context() as patch:
        patch.setattr(audit, "seal_head", _crash)
        with pytest.raises(KeyboardInterrupt):
            upgrade(url, seal_with=key)

    # Rolled back with the seal: the next start migrates.
    assert schema_revision(url) == OLD_REVISION
    assert _head_mac(tmp_path) is None

    upgrade(url, seal_with=key)
    assert schema_revision(url) == head_revision()
    assert _head_mac(tmp_path) is not None  # sealed, and committed with the migration


def test_postgresql_a_failing_start_up_migration_is_named_and_the_seal_rolls_back_with_it(
    tmp_path, monkeypatch, postgres_server
):
    url = fresh_postgres_db(postgres_server)
    key = load_settings(database_behind(tmp_path, url)).signing_key(create=False)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE audit_head SET mac = NULL WHERE id = 1"))

        _upgrade_fails_naming_the_last(url, key, monkeypatch)

        with monkeypatch.context() as patch:
            patch.setattr(audit, "seal_head", _crash)
            with pytest.raises(KeyboardInterrupt):
                upgrade(url, seal_with=key)
        assert schema_revision(url) == OLD_REVISION

        upgrade(url, seal_with=key)
        assert schema_revision(url) == head_revision()
        with engine.connect() as connection:
            mac = connection.execute(text("SELECT mac FROM audit_head WHERE id = 1")).scalar()
        assert mac is not None
    finally:
        engine.dispose()
