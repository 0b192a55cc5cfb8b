"""`shanyraq db status` and `db upgrade`, and who else may migrate: `status` only reads and
says by its exit code whether an upgrade is needed; `upgrade` migrates an existing database
(never makes one), seals an audit head left without a MAC and records what it changed; with
`auto_migrate: false` no other command migrates a database behind this version, and code
that builds the service directly seals the head as `serve` does."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

from serving import audit
from serving.db.models import AuditHead
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.migrations import upgrade
from shanyraq import __version__
from tests.serving.audit_helpers import log_before_0003
from tests.serving.cli_helpers import (
    OLD_REVISION,
    SECRET_KEY,
    audit_entries_at,
    database_behind,
    error_code,
    head_revision,
    newer_database,
    run_cli,
    schema_revision,
    serving_config,
)
from tests.serving.helpers import PASSWORD
from tests.serving.rescore_fixtures import tiny_model

# `db status` exit codes, as serving/db_cli.py and README document them.
EXIT_UPGRADE_NEEDED, EXIT_NOT_UPGRADABLE = 3, 4


def _files(folder: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in folder.rglob("*")
    }


def _foreign(database: Path) -> Path:
    """A SQLite file of another application: one table, no Shanyraq ones."""
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE notes (id INTEGER)")
    connection.close()
    return database


# --- db status ------------------------------------------------------------------------------


def test_status_tells_a_behind_database_from_an_up_to_date_one(tmp_path, database_url):
    upgrade(database_url, OLD_REVISION)
    config = serving_config(tmp_path, database_url)
    head = head_revision()
    assert head != OLD_REVISION

    behind = run_cli("db", "status", "--config", config)
    assert behind.exit_code == EXIT_UPGRADE_NEEDED, behind.output
    assert f"revision: {OLD_REVISION}\n" in behind.output
    assert f"this version needs: {head}\n" in behind.output
    assert f"`shanyraq db upgrade --config {config}`" in behind.output
    assert schema_revision(database_url) == OLD_REVISION  # only read

    upgrade(database_url)
    current = run_cli("db", "status", "--config", config)
    assert current.exit_code == 0, current.output
    assert f"revision: {head}\n" in current.output and "upgrade needed: no" in current.output


def test_status_hides_the_password_and_writes_nothing(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    database = data_dir / "shanyraq.db"
    upgrade(f"sqlite:///{database}", OLD_REVISION)
    with sqlite3.connect(database) as connection:  # as a copy made with the shell's .backup
        connection.execute("PRAGMA journal_mode=DELETE")
    connection.close()
    before = _files(data_dir)
    result = run_cli("db", "status", "--config", serving_config(tmp_path, ""))
    assert result.exit_code == EXIT_UPGRADE_NEEDED, result.output
    assert f"database: sqlite:///{database}\n" in result.output
    assert _files(data_dir) == before  # no migration, no journal change, no -wal, no key

    monkeypatch.setenv(
        "SHANYRAQ_SERVING__DATABASE_URL", "postgresql+psycopg://shanyraq:s3cret@127.0.0.1:1/x"
    )
    unreachable = run_cli("db", "status", "--config", serving_config(tmp_path, ""))
    assert error_code(unreachable) == "database_unavailable"
    assert "s3cret" not in str(unreachable.exception)


def test_status_of_a_missing_database_and_of_ones_it_cannot_upgrade(tmp_path):
    missing = tmp_path / "typo" / "shanyraq.db"
    config = serving_config(tmp_path, f"sqlite:///{missing}")
    result = run_cli("db", "status", "--config", config)
    assert error_code(result) == "database_missing"
    assert f"`shanyraq users add --config {config}`" in str(result.exception)
    assert not missing.parent.exists()

    foreign = _foreign(tmp_path / "foreign.db")
    result = run_cli("db", "status", "--config", serving_config(tmp_path, f"sqlite:///{foreign}"))
    assert result.exit_code == EXIT_NOT_UPGRADABLE, result.output
    assert "revision: none" in result.output and "no Shanyraq tables" in result.output

    newer = newer_database(tmp_path / "newer.db")
    result = run_cli("db", "status", "--config", serving_config(tmp_path, newer))
    assert result.exit_code == EXIT_NOT_UPGRADABLE, result.output
    assert "which this version does not know" in result.output


# --- db upgrade -----------------------------------------------------------------------------


def test_upgrade_seals_an_old_head_records_itself_and_a_second_run_does_nothing(
    tmp_path, database_url
):
    log_before_0003(database_url, SECRET_KEY.encode(), 3)  # at 0002; its head has no MAC
    config = serving_config(tmp_path, database_url, auto_migrate=False)  # the explicit upgrade runs
    head = head_revision()

    upgraded = run_cli("db", "upgrade", "--config", config)

    assert upgraded.exit_code == 0, upgraded.output
    assert f"from migration 0002 to {head}" in upgraded.output
    assert schema_revision(database_url) == head
    entries = audit_entries_at(database_url)
    assert [e.action for e in entries] == ["user_created"] * 3 + ["database_upgraded"]
    assert entries[-1].details == {
        "from_revision": "0002", "to_revision": head, "code_version": __version__,
    }  # fmt: skip
    verified = run_cli("audit", "verify", "--config", config)
    assert verified.exit_code == 0, verified.output
    assert "audit log intact: 4 entries" in verified.output
    anchored = (tmp_path / "anchor.log").read_text()

    again = run_cli("db", "upgrade", "--config", config)
    assert again.exit_code == 0, again.output
    assert f"nothing to do: the database is at migration {head} already" in again.output
    assert len(audit_entries_at(database_url)) == 4
    assert (tmp_path / "anchor.log").read_text() == anchored


def test_upgrade_refuses_a_lock_wait_past_a_day_before_opening_anything(tmp_path):
    # Before: accepted, and on PostgreSQL the server's own "outside the valid range" error.
    result = run_cli(
        "db", "upgrade", "--config", serving_config(tmp_path, ""), "--lock-wait", "10000000"
    )
    assert result.exit_code == 2 and "--lock-wait" in result.output, result.output
    assert "86400" in result.output, result.output
    assert not (tmp_path / "data").exists()


def test_upgrade_makes_no_database(tmp_path):
    missing = tmp_path / "data" / "shanyraq.db"
    config = serving_config(tmp_path, "")
    result = run_cli("db", "upgrade", "--config", config)
    assert error_code(result) == "database_missing"
    message = str(result.exception)
    assert f"`shanyraq users add --config {config}`" in message
    assert f"`shanyraq serve --config {config}`" in message
    assert not missing.parent.exists()

    foreign = _foreign(tmp_path / "foreign.db")
    result = run_cli("db", "upgrade", "--config", serving_config(tmp_path, f"sqlite:///{foreign}"))
    assert error_code(result) == "database_missing"
    assert "no Shanyraq tables" in str(result.exception)
    with sqlite3.connect(foreign) as connection:
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]
    connection.close()


def test_upgrade_without_the_key_changes_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'data' / 'shanyraq.db'}"
    upgrade(url, OLD_REVISION)
    result = run_cli("db", "upgrade", "--config", serving_config(tmp_path, url, key=False))
    assert error_code(result) == "signing_key_missing"
    assert schema_revision(url) == OLD_REVISION
    assert not (tmp_path / "data" / "secret_key").exists()


def test_upgrade_refuses_a_database_of_newer_code(tmp_path):
    url = newer_database(tmp_path / "newer.db")
    result = run_cli("db", "upgrade", "--config", serving_config(tmp_path, url))
    assert error_code(result) == "database_not_migrated"
    assert "run the version that wrote it" in str(result.exception)
    assert schema_revision(url) == "9999"


# --- auto_migrate ---------------------------------------------------------------------------

MIGRATING = {
    "users add": ["users", "add", "bolat", "--role", "admin", "--password", PASSWORD],
    "users set-password": ["users", "set-password", "amina", "--password", PASSWORD],
    "rescore": ["rescore", "--model", "{model}", "--device", "cpu", "--no-progress"],
}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("models"))


def _migrating(name: str, model: Path) -> list[str]:
    return [arg.replace("{model}", str(model)) for arg in MIGRATING[name]]


@pytest.mark.parametrize("name", MIGRATING)
def test_with_auto_migrate_off_only_db_upgrade_migrates(name, tmp_path, model):
    url = f"sqlite:///{tmp_path / 'data' / 'shanyraq.db'}"
    config = database_behind(tmp_path, url)  # auto_migrate: false

    refused = run_cli(*_migrating(name, model), "--config", config)

    assert error_code(refused) == "database_not_migrated", refused.output
    assert f"`shanyraq db upgrade --config {config}`" in str(refused.exception)
    assert schema_revision(url) == OLD_REVISION
    assert len(audit_entries_at(url)) == 1  # nothing recorded
    assert run_cli("db", "upgrade", "--config", config).exit_code == 0
    done = run_cli(*_migrating(name, model), "--config", config)
    assert done.exit_code == 0, done.output


@pytest.mark.parametrize("name", MIGRATING)
def test_with_auto_migrate_on_the_commands_migrate_as_before(name, tmp_path, model):
    url = f"sqlite:///{tmp_path / 'data' / 'shanyraq.db'}"
    database_behind(tmp_path, url)
    done = run_cli(*_migrating(name, model), "--config", serving_config(tmp_path, url))
    assert done.exit_code == 0, done.output
    assert schema_revision(url) == head_revision()


def test_with_auto_migrate_off_a_fresh_install_is_still_created(tmp_path):
    """Making a new database at this version's schema is not upgrading one."""
    url = f"sqlite:///{tmp_path / 'data' / 'shanyraq.db'}"
    added = run_cli(
        *MIGRATING["users add"], "--config", serving_config(tmp_path, url, auto_migrate=False)
    )
    assert added.exit_code == 0, added.output
    assert schema_revision(url) == head_revision()


# --- build_services -------------------------------------------------------------------------


def test_an_app_built_directly_seals_an_old_head(tmp_path, database_url):
    """create_app without `serve` in front: the start-up migration seals the head too."""
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from tests.serving.helpers import make_settings

    log_before_0003(database_url, SECRET_KEY.encode(), 2)
    settings = make_settings(tmp_path, database_url, secret_key=SECRET_KEY)
    with TestClient(create_app(settings)):
        pass
    engine = make_engine(database_url)
    with session_scope(make_session_factory(engine)) as session:
        mac = session.execute(select(AuditHead.mac)).scalar_one()
        result = audit.verify(session, SECRET_KEY.encode())
    engine.dispose()
    assert mac == audit.head_mac(
        SECRET_KEY.encode(), seq=2, hash=audit_entries_at(database_url)[-1].hash
    )
    assert result.ok, result.problems
