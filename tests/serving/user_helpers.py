"""Helpers of the users CLI tests: running a command, its error code, a serving.yaml on SQLite,
the password hash an account has in that database, and an admin "amina" added to it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from shanyraq.cli import build_app
from shanyraq.errors import ShanyraqError
from tests.serving.helpers import PASSWORD
from tests.serving.test_db_commands import _config


def run_cli(*args: str | Path, stdin: str | bytes | None = None) -> Any:
    """`shanyraq *args` in this process, `stdin` its standard input; typer's Result."""
    return CliRunner().invoke(build_app(), [str(arg) for arg in args], input=stdin)


def error_code(result: Any) -> str | None:
    """The code of the ShanyraqError the command ended with (None: it ended otherwise)."""
    return result.exception.code if isinstance(result.exception, ShanyraqError) else None


def sqlite_config(tmp_path: Path) -> Path:
    """serving.yaml in `tmp_path` for a SQLite database at data/shanyraq.db (not made yet)."""
    return _config(tmp_path, f"sqlite:///{tmp_path / 'data' / 'shanyraq.db'}")


def password_hash(tmp_path: Path, username: str) -> str | None:
    """The password hash `username` has in `sqlite_config`'s database (None: no such user),
    read read-only beside the CLI."""
    database = tmp_path / "data" / "shanyraq.db"
    connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = connection.execute(
            "SELECT password_hash FROM users WHERE username = ?", (username,)
        ).fetchone()
    finally:
        connection.close()
    return None if row is None else row[0]


def add_amina(tmp_path: Path) -> Path:
    """The admin "amina" (password PASSWORD) added by `users add` to `sqlite_config`'s
    database, made on the way; the config."""
    config = sqlite_config(tmp_path)
    added = run_cli("users", "add", "amina", "--role", "admin", "--password-stdin",
                    "--config", config, stdin=f"{PASSWORD}\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    return config
