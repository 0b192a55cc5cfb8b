"""Helpers of the `shanyraq db backup` tests: the config and the live database a backup is
made of (a fixture), and what that database holds."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.serving.cli_helpers import run_cli
from tests.serving.helpers import PASSWORD

KEY = "db-backup-key-0123456789abcdef-0123456789"


def backup_config(tmp_path: Path, *, url: str = "", anchor: Path | None = None) -> Path:
    config = tmp_path / "serving.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\ndatabase_url: '{url}'\nsecret_key: {KEY}\n"
        f"audit_anchor_file: {anchor or tmp_path / 'anchor.log'}\n"
    )
    return config


def ask_sqlite(database: Path, sql: str) -> list[Any]:
    connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


@pytest.fixture
def live(tmp_path: Path) -> Path:
    """The config of a service database made by `users add` (one audit entry)."""
    config = backup_config(tmp_path)
    added = run_cli("users", "add", "amina", "--role", "admin", "--password", PASSWORD,
                    "--config", config)  # fmt: skip
    assert added.exit_code == 0, added.output
    return config


def live_database(tmp_path: Path) -> Path:
    return tmp_path / "data" / "shanyraq.db"


def audited_actions(database: Path) -> list[tuple[str, dict[str, Any]]]:
    import json

    rows = ask_sqlite(database, "SELECT action, details FROM audit_log ORDER BY seq")
    return [(action, json.loads(details)) for action, details in rows]
