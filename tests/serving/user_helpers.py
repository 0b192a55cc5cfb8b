"""Helpers of the users CLI tests: a serving.yaml on SQLite, the password hash an account has in
that database, an admin "amina" added to it, and an argon2 hasher of other parameters than the
service's; running a command and its error code are cli_helpers', named here too."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from argon2 import PasswordHasher

from tests.serving.cli_helpers import error_code, run_cli, serving_config
from tests.serving.helpers import PASSWORD

__all__ = ["add_amina", "error_code", "password_hash", "run_cli", "sqlite_config"]


def sqlite_config(tmp_path: Path) -> Path:
    """serving.yaml in `tmp_path` for a SQLite database at data/shanyraq.db (not made yet)."""
    return serving_config(tmp_path, f"sqlite:///{tmp_path / 'data' / 'shanyraq.db'}")


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


OLD_HASHER = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)  # not the tests' own
