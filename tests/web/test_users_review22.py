"""Found by the review of the users CLI and sign-in: `set-password` on a disabled account says
it stays disabled; --password-stdin bytes that are not UTF-8 are one clear line, nothing
changed; sign-in drops spaces around the username (never the password's), on the page and the
token route alike; the sign-in form's username limit is serving.users's constant."""

from __future__ import annotations

import io
import sys

import pytest

from serving import users
from serving.core.security import verify_password
from serving.users_cli import new_password
from serving.web.routes import auth as web_auth
from shanyraq.errors import CommandUsageError
from tests.serving.helpers import PASSWORD
from tests.serving.user_helpers import add_amina, password_hash, run_cli, sqlite_config
from tests.web.helpers import inputs, sign_in
from tests.web.sign_in_helpers import api_login, fresh_client

NEW_PASSWORD = "a brand new pass phrase"


# --- 1. set-password on a disabled account ------------------------------------------------


def test_set_password_on_a_disabled_account_says_it_stays_disabled(tmp_path):
    config = add_amina(tmp_path)
    assert run_cli("users", "disable", "amina", "--config", config).exit_code == 0

    reset = run_cli("users", "set-password", "amina", "--password-stdin", "--config", config,
                    stdin=f"{NEW_PASSWORD}\n")  # fmt: skip

    assert reset.exit_code == 0, reset.output
    assert "amina is DISABLED" in reset.output
    assert f"`shanyraq users enable amina --config {config}`" in reset.output
    assert verify_password(NEW_PASSWORD, password_hash(tmp_path, "amina"))  # set all the same
    listed = run_cli("users", "list", "--config", config)
    assert "amina\tadmin\tall regions\tDISABLED" in listed.output  # and still disabled


def test_set_password_on_an_active_account_says_nothing_of_disabling(tmp_path):
    config = add_amina(tmp_path)

    reset = run_cli("users", "set-password", "amina", "--password-stdin", "--config", config,
                    stdin=f"{NEW_PASSWORD}\n")  # fmt: skip

    assert reset.exit_code == 0, reset.output
    assert "DISABLED" not in reset.output and "enable" not in reset.output


# --- 2. --password-stdin bytes that are not UTF-8 -----------------------------------------


@pytest.mark.parametrize("command", ["add", "set-password"])
def test_password_stdin_that_is_not_utf8_is_one_clear_line_and_changes_nothing(tmp_path, command):
    config = sqlite_config(tmp_path)
    if command == "set-password":
        config = add_amina(tmp_path)
    args = ["add", "amina", "--role", "admin"] if command == "add" else ["set-password", "amina"]

    refused = run_cli("users", *args, "--password-stdin", "--config", config,
                      stdin=b"caf\xe9 horse battery\n")  # fmt: skip

    assert refused.exit_code == 2, refused.output
    assert "error [usage_error]: --password-stdin: standard input is not UTF-8 text" in (
        refused.output
    )
    assert "Traceback" not in refused.output
    if command == "add":
        assert not (tmp_path / "data").exists()
    else:
        assert verify_password(PASSWORD, password_hash(tmp_path, "amina"))


def test_password_stdin_read_with_escaped_bytes_is_refused_too(monkeypatch):
    """A C or POSIX locale's Python keeps undecodable bytes as lone surrogates, no error:
    such a password could never be hashed (it crashed with a traceback)."""
    escaped = io.TextIOWrapper(
        io.BytesIO(b"caf\xe9 horse battery\n"), encoding="utf-8", errors="surrogateescape"
    )
    monkeypatch.setattr(sys, "stdin", escaped)
    with pytest.raises(CommandUsageError, match="not UTF-8 text"):
        new_password(None, from_stdin=True)


def test_a_password_given_otherwise_with_escaped_bytes_is_refused():
    """--password and the prompt: the command line's undecodable bytes are lone surrogates."""
    with pytest.raises(users.PasswordWeakError, match="not UTF-8") as refused:
        users.check_password(b"caf\xe9 horse battery".decode("utf-8", "surrogateescape"))
    assert refused.value.reason == "control_character"


@pytest.mark.parametrize("command", ["set-password", "disable", "enable"])
def test_a_username_argument_that_is_not_utf8_is_no_account_not_a_traceback(tmp_path, command):
    """A command line's undecodable bytes reach the command as lone surrogates, which the
    database driver could not encode (UnicodeEncodeError)."""
    config = add_amina(tmp_path)
    name = b"amin\xe9".decode("utf-8", "surrogateescape")
    stdin = f"{NEW_PASSWORD}\n" if command == "set-password" else None
    extra = ["--password-stdin"] if command == "set-password" else []

    refused = run_cli("users", command, name, *extra, "--config", config, stdin=stdin)

    assert isinstance(refused.exception, users.NotFoundError), refused.exception
    assert "not UTF-8" in str(refused.exception)
    assert verify_password(PASSWORD, password_hash(tmp_path, "amina"))


# --- 3. spaces around the username --------------------------------------------------------


def test_the_typed_username_drops_surrounding_spaces_and_folds_case():
    assert users.typed_username(" Inspector\u00a0") == "inspector"
    assert users.typed_username("\tadmin \n") == "admin"
    assert users.typed_username("in spector") == "in spector"  # inner spaces: no account's name


def test_spaces_around_the_password_are_kept(web):
    assert api_login(web, "admin ", f"{PASSWORD} ").status_code == 401
    assert sign_in(fresh_client(web), "admin ", f" {PASSWORD}").status_code == 401


# --- 4. the sign-in form's username limit -------------------------------------------------


def test_the_username_field_takes_the_users_modules_constant(web, monkeypatch):
    page = inputs(fresh_client(web).get("/ui/login").text)
    assert page["username"].get("maxlength") == str(users.USERNAME_MAX_CHARS)
    monkeypatch.setattr(web_auth, "USERNAME_MAX_CHARS", 40)
    assert inputs(fresh_client(web).get("/ui/login").text)["username"].get("maxlength") == "40"
