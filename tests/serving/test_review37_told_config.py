"""The `shanyraq audit verify` an append or a sealing logs carries the --config of the command
or service that appends or seals, so that, run as told, it checks that site's log; and a
refusal shows a SQLite database's address with its path as written.

Before, an append that found an unsealed head (serving.audit) and the sealing of a migrating
start (serving/migrations/env.py, the service's start-up) logged `shanyraq audit verify`
without --config: run as written, it looked for the default configs' database. A refusal
showed a folder `site o'neil` as `site o%27neil` (the URL's %-encoded rendering). The site's
folder here holds a space and a quote; the default configs point at a data folder of their
own, which no told command may make.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from serving.db.session import make_engine
from tests.serving.cli_helpers import (
    OLD_REVISION,
    SECRET_KEY,
    error_code,
    head_revision,
    newer_database,
    run_cli,
)
from tests.serving.helpers import PASSWORD, free_port
from tests.serving.migration_helpers import downgrade
from tests.serving.told_command_helpers import (
    default_configs_elsewhere,
    logged_lines,
    parsed,
    told,
    verifies_the_site,
)

FOLDER = "site o'neil"


@pytest.fixture
def default_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The default configs' data folder (not made)."""
    from serving.core.config import get_settings

    yield default_configs_elsewhere(tmp_path, monkeypatch)
    get_settings.cache_clear()


def _site(tmp_path: Path, url: str | None = None) -> tuple[Path, str]:
    """The serving.yaml of a site in a folder named FOLDER, and its database URL (by default
    a SQLite file in the site's data folder)."""
    folder = tmp_path / FOLDER
    folder.mkdir(exist_ok=True)
    url = url or f"sqlite:///{folder / 'data' / 'shanyraq.db'}"
    config = folder / "serving.yaml"
    values = {"data_dir": str(folder / "data"), "database_url": url,
              "audit_anchor_file": str(folder / "anchor.log"), "secret_key": SECRET_KEY,
              "model_dir": "", "fusion_dir": "", "auto_migrate": True}  # fmt: skip
    config.write_text(yaml.safe_dump(values), encoding="utf-8")
    return config, url


def _site_with_an_unsealed_head(tmp_path: Path, *, behind: bool = False) -> Path:
    """A site with two accounts whose audit head lost its MAC and names a hash the log's last
    entry does not have: no sealing may seal it, and the next append records it; `behind`:
    its database left at an older migration. Its config."""
    config, url = _site(tmp_path)
    for name in ("amina", "bolat"):
        added = run_cli("users", "add", name, "--role", "admin", "--config", config,
                        stdin=f"{PASSWORD}\n{PASSWORD}\n")  # fmt: skip
        assert added.exit_code == 0, added.output
    if behind:
        downgrade(url, OLD_REVISION)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE audit_head SET mac = NULL, hash = :h"), {"h": "0" * 64})
    finally:
        engine.dispose()
    return config


def _told_verifies_check_the_site(
    caplog: pytest.LogCaptureFixture, config: Path, default_data: Path, *, sealings: int
) -> None:
    """The `audit verify` told by each of `sealings` sealings that left the head unsealed, and
    by the append that recorded it, checks the site's log (`verifies_the_site`)."""
    unsealed = logged_lines(caplog, "left unsealed")
    assert len(unsealed) == sealings, unsealed
    (recorded,) = logged_lines(caplog, "recorded in the audit log before this entry")
    for said in [*unsealed, recorded]:
        (verify,) = told(said, "audit verify")
        verifies_the_site(verify, config, default_data)


def test_an_append_that_finds_an_unsealed_head_tells_the_verify_of_the_same_database(
    tmp_path: Path, default_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _site_with_an_unsealed_head(tmp_path)

    with caplog.at_level(logging.WARNING, logger="serving.audit"):
        disabled = run_cli("users", "disable", "bolat", "--config", config)
    assert disabled.exit_code == 0, disabled.output
    _told_verifies_check_the_site(caplog, config, default_data, sealings=1)


def test_the_service_s_sealing_and_appends_tell_the_verify_of_its_config(
    tmp_path: Path,
    default_data: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`serve --config`: its start-up migration seals in env.py, and a sign-in appends."""
    import uvicorn
    from fastapi.testclient import TestClient

    config = _site_with_an_unsealed_head(tmp_path)
    signed_in: list[int] = []

    def serve_once(app: Any, **_: Any) -> None:  # the app as uvicorn would serve it
        with TestClient(app, base_url="http://127.0.0.1") as client:
            answer = client.post("/auth/token", data={"username": "amina", "password": PASSWORD})
            signed_in.append(answer.status_code)

    monkeypatch.setattr(uvicorn, "run", serve_once)
    with caplog.at_level(logging.WARNING, logger="serving"):
        served = run_cli("serve", "--host", "127.0.0.1", "--port", str(free_port()),
                         "--config", config)  # fmt: skip
    assert served.exit_code == 0, served.output
    assert signed_in == [200]
    # Sealed by the command's own check, then by the service's start-up migration (env.py).
    _told_verifies_check_the_site(caplog, config, default_data, sealings=2)


def test_db_upgrade_s_append_tells_the_verify_of_its_config(
    tmp_path: Path, default_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _site_with_an_unsealed_head(tmp_path, behind=True)

    with caplog.at_level(logging.WARNING, logger="serving.audit"):
        upgraded = run_cli("db", "upgrade", "--config", config)
    assert upgraded.exit_code == 0, upgraded.output
    _told_verifies_check_the_site(caplog, config, default_data, sealings=1)


def test_a_failed_start_migration_tells_the_upgrade_of_the_same_database(
    tmp_path: Path, default_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic.runtime.migration import HeadMaintainer

    config = _site_with_an_unsealed_head(tmp_path, behind=True)
    real, head = HeadMaintainer.update_to_step, head_revision()

    def update_to_step(self: HeadMaintainer, step: Any) -> None:
        if head in step.to_revisions:  # the database's error: the told ways out name `again`
            self.context.connection.exec_driver_sql("SELECT no_such_column FROM alembic_version")
        real(self, step)

    monkeypatch.setattr(HeadMaintainer, "update_to_step", update_to_step)
    failed = run_cli("users", "disable", "amina", "--config", config)  # auto_migrate: true
    assert error_code(failed) == "migration_failed", failed.output
    (upgrade,) = told(str(failed.exception), "db upgrade")
    assert upgrade == ["--config", str(config)], failed.exception
    assert parsed(upgrade, "db", "upgrade")["config"] == config


def test_a_migrating_start_waiting_on_postgresql_tells_the_upgrade_of_its_config(
    behind_pg: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wait for alembic_version's lock at a migrating start (env.py) ends in a refusal
    that tells `db upgrade` with the start's --config."""
    from serving import db_upgrade
    from serving.cli import check_database, load_settings
    from serving.db_upgrade import DatabaseInUseError
    from tests.serving.migration_helpers import WAIT_S, alembic_reader

    url, config = behind_pg
    monkeypatch.setattr(db_upgrade, "LOCK_WAIT_S", 0.5)
    with alembic_reader(url) as reader:
        guard = threading.Timer(WAIT_S, reader.rollback)  # a wait without end fails, not hangs
        guard.start()
        try:
            with pytest.raises(DatabaseInUseError) as refused:
                check_database(load_settings(config), may_create=False, migrate=True,
                               config=config)  # fmt: skip
        finally:
            guard.cancel()
    (upgrade,) = told(refused.value.message, "db upgrade")
    assert upgrade == ["--config", str(config)], refused.value.message


def test_a_library_caller_without_a_config_is_told_the_verify_as_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from serving.migrations import upgrade

    config = _site_with_an_unsealed_head(tmp_path)
    url = yaml.safe_load(config.read_text(encoding="utf-8"))["database_url"]
    with caplog.at_level(logging.WARNING, logger="serving.audit"):
        upgrade(url, seal_with=SECRET_KEY.encode())
    (said,) = logged_lines(caplog, "left unsealed")
    assert told(said, "audit verify") == [[]], said


def _newer(tmp_path: Path) -> tuple[Path, str]:
    """A site whose database a later version wrote."""
    (tmp_path / FOLDER / "data").mkdir(parents=True)
    return _site(tmp_path, newer_database(tmp_path / FOLDER / "data" / "shanyraq.db"))


def _not_a_database(tmp_path: Path, url: str | None = None) -> tuple[Path, str]:
    """A site whose database file holds no SQLite database (or `url` names a driver not
    installed here)."""
    (tmp_path / FOLDER / "data").mkdir(parents=True)
    (tmp_path / FOLDER / "data" / "shanyraq.db").write_bytes(b"not a database " * 300)
    return _site(tmp_path, url)


def _no_driver(tmp_path: Path) -> tuple[Path, str]:
    return _not_a_database(
        tmp_path, f"sqlite+pysqlcipher:///{tmp_path / FOLDER / 'data' / 'shanyraq.db'}"
    )


def _said_by(result: Any) -> str:
    """What a command said: its refusal's message, else its output."""
    return str(result.exception) if result.exception is not None else str(result.output)


# (how the site is made, the command run on it with --config, what the message says)
SHOWN_AT: dict[str, tuple[Callable[[Path], tuple[Path, str]], list[str], str]] = {
    "newer schema, a reading command": (_newer, ["audit", "verify"], "cannot take it back"),
    "newer schema, a migrating command": (
        _newer, ["users", "disable", "amina"], "cannot take it back"
    ),
    "newer schema, db upgrade": (_newer, ["db", "upgrade"], "cannot take it back"),
    "cannot open": (_not_a_database, ["users", "disable", "amina"], "cannot open the database"),
    "no driver": (_no_driver, ["audit", "verify"], "no installed driver"),
}  # fmt: skip


@pytest.mark.parametrize("case", SHOWN_AT)
def test_a_refusal_shows_the_sqlite_path_as_written(
    case: str, tmp_path: Path, default_data: Path
) -> None:
    make, command, words = SHOWN_AT[case]
    config, url = make(tmp_path)
    said = _said_by(run_cli(*command, "--config", config))
    assert words in said, said
    assert url in said and FOLDER in url, said  # the site's URL as written in serving.yaml
    assert "%27" not in said, said


def test_a_backup_refusal_shows_another_database_s_url_with_its_password_hidden(
    tmp_path: Path, default_data: Path
) -> None:
    config, _ = _site(tmp_path, "postgresql+psycopg://amina:s3cr%40t@127.0.0.1:9/shanyraq")
    said = _said_by(run_cli("db", "backup", tmp_path / "out.db", "--config", config))
    assert "the database at postgresql+psycopg://amina:***@127.0.0.1:9/shanyraq is not" in said
    assert "s3cr" not in said, said


def test_db_status_shows_the_sqlite_path_as_written(tmp_path: Path, default_data: Path) -> None:
    config, url = _site(tmp_path)
    added = run_cli("users", "add", "amina", "--role", "admin", "--config", config,
                    stdin=f"{PASSWORD}\n{PASSWORD}\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    status = run_cli("db", "status", "--config", config)
    assert f"database: {url}\n" in status.output, status.output


def test_another_database_s_url_is_shown_with_its_password_hidden() -> None:
    from sqlalchemy.engine import make_url

    from serving.db.session import shown_database

    url = make_url("postgresql+psycopg://amina:s3cr%40t@db.local:5432/shanyraq")
    assert shown_database(url) == "postgresql+psycopg://amina:***@db.local:5432/shanyraq"
    memory = make_url("sqlite:///:memory:")
    assert shown_database(memory) == "sqlite:///:memory:"
    with_query = make_url(f"sqlite:///{FOLDER}/x.db?timeout=3")
    assert shown_database(with_query) == f"sqlite:///{FOLDER}/x.db?timeout=3"
