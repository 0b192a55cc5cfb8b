"""Found by the review of serving/users.py and serving/users_cli.py: no account may be named
as the audit trail names the operator's commands ("cli"), and the CLI refuses a password
longer than the sign-in page takes, as the API does already."""

from __future__ import annotations

import pytest

from serving.core.security import verify_password
from serving.errors import RecordInvalidError
from serving.users import (
    PASSWORD_MAX_CHARS,
    PasswordWeakError,
    check_password,
    check_username,
)
from tests.serving.helpers import PASSWORD, REGION
from tests.serving.user_helpers import error_code, password_hash, run_cli, sqlite_config

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
    config = sqlite_config(tmp_path)

    refused = run_cli("users", "add", "cli", "--role", "admin", "--password-stdin",
                      "--config", config, stdin=f"{PASSWORD}\n")  # fmt: skip

    assert error_code(refused) == "record_invalid", refused.output
    assert not (tmp_path / "data").exists()  # refused before anything was made


# --- a password the sign-in page cannot take ----------------------------------------------


def test_the_password_rule_has_the_sign_in_pages_most():
    check_password("p" * PASSWORD_MAX_CHARS)
    with pytest.raises(PasswordWeakError, match="too long") as refused:
        check_password("p" * (PASSWORD_MAX_CHARS + 1))
    assert refused.value.reason == "too_long"


@pytest.mark.parametrize("command", ["add", "set-password"])
def test_the_cli_refuses_a_password_longer_than_the_sign_in_page_takes(tmp_path, command):
    config = sqlite_config(tmp_path)
    if command == "set-password":
        first = run_cli("users", "add", "amina", "--role", "admin", "--password-stdin",
                        "--config", config, stdin=f"{PASSWORD}\n")  # fmt: skip
        assert first.exit_code == 0, first.output
    args = ["add", "amina", "--role", "admin"] if command == "add" else ["set-password", "amina"]
    too_long = "p" * (PASSWORD_MAX_CHARS + 1)

    refused = run_cli("users", *args, "--password-stdin", "--config", config,
                      stdin=f"{too_long}\n")  # fmt: skip

    assert error_code(refused) == "password_weak", refused.output
    assert f"at most {PASSWORD_MAX_CHARS}" in str(refused.exception)
    if command == "add":
        assert not (tmp_path / "data").exists()
    else:  # the password it had still signs in
        assert verify_password(PASSWORD, password_hash(tmp_path, "amina"))


def test_the_api_and_the_cli_agree_on_the_longest_password(service):
    """The API's UserCreate refuses what the CLI now refuses, and takes what it takes."""
    body = {"username": "longpass", "role": "inspector", "region": REGION}
    headers = service.headers("admin")

    longest = {**body, "password": "p" * PASSWORD_MAX_CHARS}
    too_long = {**body, "username": "longpass2", "password": "p" * (PASSWORD_MAX_CHARS + 1)}

    assert service.client.post("/users", json=longest, headers=headers).status_code == 201
    assert service.client.post("/users", json=too_long, headers=headers).status_code == 422
