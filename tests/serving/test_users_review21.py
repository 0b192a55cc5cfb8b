"""Found by the review of serving/users.py and serving/users_cli.py: no account may be named
as the audit trail names the operator's commands ("cli"), and the CLI refuses a password
longer than the sign-in page takes, as the API does already."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from serving.core.security import verify_password
from serving.errors import RecordInvalidError
from serving.users import (
    PASSWORD_MAX_CHARS,
    PasswordWeakError,
    check_password,
    check_username,
)
from shanyraq.cli import build_app
from shanyraq.errors import ShanyraqError
from tests.serving.helpers import PASSWORD, REGION
from tests.serving.test_db_commands import _config


def _run(*args: str | Path, stdin: str | None = None) -> Any:
    return CliRunner().invoke(build_app(), [str(arg) for arg in args], input=stdin)


def _code(result: Any) -> str | None:
    return result.exception.code if isinstance(result.exception, ShanyraqError) else None


def _sqlite_config(tmp_path: Path) -> Path:
    return _config(tmp_path, f"sqlite:///{tmp_path / 'data' / 'shanyraq.db'}")


def _password_hash(tmp_path: Path, username: str) -> str | None:
    database = tmp_path / "data" / "shanyraq.db"
    connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = connection.execute(
            "SELECT password_hash FROM users WHERE username = ?", (username,)
        ).fetchone()
    finally:
        connection.close()
    return None if row is None else row[0]


# --- "cli" is the operator's name in the audit trail ---------------------------------------


def test_the_operators_audit_name_is_no_username():
    with pytest.raises(RecordInvalidError, match="reserved"):
        check_username("cli")
    check_username("cli.user")  # only the name itself


def test_a_regional_admin_cannot_make_an_account_that_passes_for_the_operator(service):
    """Its audit page shows what accounts of its region did: an account named "cli" would
    bring every operator command there (other regions' accounts included)."""
    body = {"username": "cli", "password": PASSWORD, "role": "inspector", "region": REGION}

    refused = service.client.post("/users", json=body, headers=service.headers("admin"))

    assert refused.status_code == 422, refused.text
    assert "reserved" in refused.text
    listed = service.client.get("/users", headers=service.headers("admin_national")).json()
    assert "cli" not in {account["username"] for account in listed}


def test_users_add_refuses_the_operators_audit_name(tmp_path):
    config = _sqlite_config(tmp_path)

    refused = _run("users", "add", "cli", "--role", "admin", "--password-stdin",
                   "--config", config, stdin=f"{PASSWORD}\n")  # fmt: skip

    assert _code(refused) == "record_invalid", refused.output
    assert not (tmp_path / "data").exists()  # refused before anything was made


# --- a password the sign-in page cannot take ----------------------------------------------


def test_the_password_rule_has_the_sign_in_pages_most():
    check_password("p" * PASSWORD_MAX_CHARS)
    with pytest.raises(PasswordWeakError, match="too long") as refused:
        check_password("p" * (PASSWORD_MAX_CHARS + 1))
    assert refused.value.reason == "too_long"


@pytest.mark.parametrize("command", ["add", "set-password"])
def test_the_cli_refuses_a_password_longer_than_the_sign_in_page_takes(tmp_path, command):
    config = _sqlite_config(tmp_path)
    if command == "set-password":
        first = _run("users", "add", "amina", "--role", "admin", "--password-stdin",
                     "--config", config, stdin=f"{PASSWORD}\n")  # fmt: skip
        assert first.exit_code == 0, first.output
    args = ["add", "amina", "--role", "admin"] if command == "add" else ["set-password", "amina"]
    too_long = "p" * (PASSWORD_MAX_CHARS + 1)

    refused = _run("users", *args, "--password-stdin", "--config", config,
                   stdin=f"{too_long}\n")  # fmt: skip

    assert _code(refused) == "password_weak", refused.output
    assert f"at most {PASSWORD_MAX_CHARS}" in str(refused.exception)
    if command == "add":
        assert not (tmp_path / "data").exists()
    else:  # the password it had still signs in
        assert verify_password(PASSWORD, _password_hash(tmp_path, "amina"))


def test_the_api_and_the_cli_agree_on_the_longest_password(service):
    """The API's UserCreate refuses what the CLI now refuses, and takes what it takes."""
    body = {"username": "longpass", "role": "inspector", "region": REGION}
    headers = service.headers("admin")

    longest = {**body, "password": "p" * PASSWORD_MAX_CHARS}
    too_long = {**body, "username": "longpass2", "password": "p" * (PASSWORD_MAX_CHARS + 1)}

    assert service.client.post("/users", json=longest, headers=headers).status_code == 201
    assert service.client.post("/users", json=too_long, headers=headers).status_code == 422
