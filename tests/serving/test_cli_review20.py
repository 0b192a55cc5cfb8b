"""Found by the CLI review: `users add` and `users set-password` take a password without the
command line (`--password-stdin`), and `--password` warns that it is visible to others;
`db upgrade` refuses a database behind this version that another process (the service) has
open, unless `--force`."""

from __future__ import annotations

import pytest

from serving.core.security import verify_password
from serving.db.session import make_engine
from serving.users_cli import ARGV_WARNING
from tests.serving.cli_helpers import (
    OLD_REVISION,
    database_behind,
    error_code,
    head_revision,
    holding_open,
    run_cli,
    schema_revision,
    serving_config,
    sqlite_url,
)
from tests.serving.helpers import PASSWORD, fresh_postgres_db
from tests.serving.user_helpers import password_hash

OTHER_PASSWORD = "another long passphrase"


# --- users: a password off the command line -------------------------------------------------


@pytest.mark.parametrize("line_end", ["\n", "\r\n", ""])
def test_users_add_reads_the_password_from_stdin(tmp_path, line_end):
    config = serving_config(tmp_path, sqlite_url(tmp_path))
    password = f" {PASSWORD} "  # its spaces are its own; only the line end goes

    rest = "a second line\n" if line_end else ""  # not read: one line is the password
    added = run_cli("users", "add", "amina", "--role", "admin", "--password-stdin",
                    "--config", config, stdin=password + line_end + rest)  # fmt: skip

    assert added.exit_code == 0, added.output
    assert ARGV_WARNING not in added.output and "Password" not in added.output  # no prompt
    stored = password_hash(tmp_path, "amina")
    assert verify_password(password, stored) and not verify_password(PASSWORD, stored)


def test_set_password_reads_the_password_from_stdin(tmp_path):
    config = serving_config(tmp_path, sqlite_url(tmp_path))
    added = run_cli("users", "add", "amina", "--role", "admin", "--config", config,
                    stdin=f"{PASSWORD}\n{PASSWORD}\n")  # fmt: skip  # the prompt, as before
    assert added.exit_code == 0, added.output
    assert verify_password(PASSWORD, password_hash(tmp_path, "amina"))

    reset = run_cli("users", "set-password", "amina", "--password-stdin", "--config", config,
                    stdin=f"{OTHER_PASSWORD}\n")  # fmt: skip

    assert reset.exit_code == 0, reset.output
    assert verify_password(OTHER_PASSWORD, password_hash(tmp_path, "amina"))


@pytest.mark.parametrize("args", [["add", "amina", "--role", "admin"], ["set-password", "amina"]])
def test_a_password_on_the_command_line_still_works_with_a_warning_on_stderr(tmp_path, args):
    config = serving_config(tmp_path, sqlite_url(tmp_path))
    if args[0] == "set-password":
        first = run_cli("users", "add", "amina", "--role", "admin", "--password-stdin",
                        "--config", config, stdin=f"{OTHER_PASSWORD}\n")  # fmt: skip
        assert first.exit_code == 0, first.output

    result = run_cli("users", *args, "--password", PASSWORD, "--config", config)

    assert result.exit_code == 0, result.output
    assert ARGV_WARNING in result.stderr and ARGV_WARNING not in result.stdout
    assert "other users of this machine" in ARGV_WARNING
    assert verify_password(PASSWORD, password_hash(tmp_path, "amina"))


def test_password_stdin_refusals_change_nothing(tmp_path):
    config = serving_config(tmp_path, sqlite_url(tmp_path))
    add = ["users", "add", "amina", "--role", "admin", "--config", config]

    both = run_cli(*add, "--password", PASSWORD, "--password-stdin", stdin=f"{PASSWORD}\n")
    empty = run_cli(*add, "--password-stdin", stdin="")

    assert both.exit_code == 2 and "error [usage_error]: give --password or" in both.output
    assert empty.exit_code == 2 and "error [usage_error]: --password-stdin" in empty.output
    assert "standard input is empty" in empty.output
    assert not (tmp_path / "data").exists()  # refused before anything was made


def test_help_offers_stdin_and_warns_of_the_command_line():
    for name in ("add", "set-password"):
        shown = " ".join(run_cli("users", name, "--help").output.split())
        assert "--password-stdin" in shown and "process list" in shown


# --- db upgrade while another process has the database open ---------------------------------


def test_upgrade_refuses_a_sqlite_database_another_process_has_open(tmp_path):
    url = sqlite_url(tmp_path)
    config = database_behind(tmp_path, url)

    with holding_open(tmp_path / "data" / "shanyraq.db") as pid:
        refused = run_cli("db", "upgrade", "--config", config)
        assert error_code(refused) == "database_in_use", refused.output
        message = str(refused.exception)
        assert f"process {pid} (" in message and "stop the service" in message
        assert "--force" in message
        assert schema_revision(url) == OLD_REVISION  # nothing changed

        forced = run_cli("db", "upgrade", "--force", "--config", config)
        assert forced.exit_code == 0, forced.output
    assert schema_revision(url) == head_revision()


def test_upgrade_runs_once_the_other_process_has_closed_the_database(tmp_path):
    url = sqlite_url(tmp_path)
    config = database_behind(tmp_path, url)
    with holding_open(tmp_path / "data" / "shanyraq.db"):
        assert error_code(run_cli("db", "upgrade", "--config", config)) == "database_in_use"

    upgraded = run_cli("db", "upgrade", "--config", config)

    assert upgraded.exit_code == 0, upgraded.output
    assert schema_revision(url) == head_revision()


def test_upgrade_with_nothing_to_do_is_not_refused_while_the_service_runs(tmp_path):
    url = sqlite_url(tmp_path)
    config = serving_config(tmp_path, url)
    added = run_cli("users", "add", "amina", "--role", "admin", "--config", config,
                    stdin=f"{PASSWORD}\n{PASSWORD}\n")  # fmt: skip
    assert added.exit_code == 0, added.output

    with holding_open(tmp_path / "data" / "shanyraq.db"):
        again = run_cli("db", "upgrade", "--config", config)

    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.output


def test_upgrade_refuses_a_postgresql_database_the_service_has_a_session_on(
    tmp_path, postgres_server
):
    import psycopg

    url = fresh_postgres_db(postgres_server)
    config = database_behind(tmp_path, url)
    plain = url.replace("postgresql+psycopg://", "postgresql://")

    with psycopg.connect(plain, application_name="psql"):  # a person looking: not the service
        with psycopg.connect(plain) as older:  # as an earlier version's service connects
            older_pid = older.info.backend_pid
            refused = run_cli("db", "upgrade", "--config", config)
            assert error_code(refused) == "database_in_use", refused.output
            message = str(refused.exception)
            assert f"session {older_pid} " in message and "(psql)" not in message
            assert schema_revision(url) == OLD_REVISION
        service = make_engine(url)  # as this version's service connects: named
        try:
            with service.connect() as connection:
                pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                refused = run_cli("db", "upgrade", "--config", config)
            assert error_code(refused) == "database_in_use", refused.output
            assert f"session {pid} " in str(refused.exception)
            assert "(shanyraq)" in str(refused.exception)
        finally:
            service.dispose()
        upgraded = run_cli("db", "upgrade", "--config", config)  # only psql is left

    assert upgraded.exit_code == 0, upgraded.output
    assert schema_revision(url) == head_revision()
