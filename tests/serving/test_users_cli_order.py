"""Review 25 (p507): `users add` and `users set-password` check everything but the password
(name, role, region, whether the account exists, the database) before asking for it, so the
operator never types it twice only to be told the name was wrong."""

from __future__ import annotations

import pytest

from serving.core.security import verify_password
from tests.serving.helpers import PASSWORD, REGION
from tests.serving.user_helpers import (
    add_amina,
    error_code,
    password_hash,
    run_cli,
    sqlite_config,
)

OTHER_PASSWORD = "another pass phrase"
TWICE = f"{OTHER_PASSWORD}\n{OTHER_PASSWORD}\n"  # the prompt's answer and its confirmation


def _not_asked(result: object) -> bool:
    return "Password" not in getattr(result, "output", "")


def test_add_refuses_a_taken_name_before_asking_for_the_password(tmp_path):
    config = add_amina(tmp_path)

    refused = run_cli("users", "add", "amina", "--role", "admin", "--config", config, stdin=TWICE)

    assert error_code(refused) == "conflict", refused.output
    assert "the user 'amina' exists already" in str(refused.exception)
    assert _not_asked(refused), refused.output
    assert verify_password(PASSWORD, password_hash(tmp_path, "amina"))  # untouched


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--role", "boss", "--region", REGION], "unknown role 'boss'"),
        (["--role", "inspector"], "needs a region"),
        (["--role", "inspector", "--region", "atlantis"], "unknown region 'atlantis'"),
    ],
)
def test_add_refuses_a_wrong_role_or_region_before_asking_for_the_password(tmp_path, extra, said):
    config = sqlite_config(tmp_path)

    refused = run_cli("users", "add", "bolat", *extra, "--config", config, stdin=TWICE)

    assert error_code(refused) == "record_invalid", refused.output
    assert said in str(refused.exception)
    assert _not_asked(refused), refused.output
    assert not (tmp_path / "data").exists()  # nothing made


def test_add_refuses_a_bad_name_before_asking_for_the_password(tmp_path):
    refused = run_cli("users", "add", "Bad Name!", "--role", "admin",
                      "--config", sqlite_config(tmp_path), stdin=TWICE)  # fmt: skip

    assert error_code(refused) == "record_invalid", refused.output
    assert _not_asked(refused), refused.output


def test_add_still_asks_for_the_password_once_all_else_is_right(tmp_path):
    config = add_amina(tmp_path)  # a database exists: the name is looked up in it

    added = run_cli("users", "add", "bolat", "--role", "inspector", "--region", REGION,
                    "--config", config, stdin=TWICE)  # fmt: skip

    assert added.exit_code == 0, added.output
    assert "Password" in added.output
    assert verify_password(OTHER_PASSWORD, password_hash(tmp_path, "bolat"))


def test_add_on_a_fresh_install_asks_and_makes_the_database(tmp_path):
    added = run_cli("users", "add", "amina", "--role", "admin",
                    "--config", sqlite_config(tmp_path), stdin=TWICE)  # fmt: skip

    assert added.exit_code == 0, added.output
    assert verify_password(OTHER_PASSWORD, password_hash(tmp_path, "amina"))


def test_set_password_refuses_an_unknown_account_before_asking(tmp_path):
    config = add_amina(tmp_path)

    refused = run_cli("users", "set-password", "nobody", "--config", config, stdin=TWICE)

    assert error_code(refused) == "not_found", refused.output
    assert "no user 'nobody'" in str(refused.exception)
    assert _not_asked(refused), refused.output


def test_set_password_refuses_a_missing_database_before_asking(tmp_path):
    refused = run_cli("users", "set-password", "amina",
                      "--config", sqlite_config(tmp_path), stdin=TWICE)  # fmt: skip

    assert error_code(refused) == "database_missing", refused.output
    assert _not_asked(refused), refused.output


def test_set_password_still_asks_for_a_known_account(tmp_path):
    config = add_amina(tmp_path)

    reset = run_cli("users", "set-password", "amina", "--config", config, stdin=TWICE)

    assert reset.exit_code == 0, reset.output
    assert "Password" in reset.output
    assert verify_password(OTHER_PASSWORD, password_hash(tmp_path, "amina"))
