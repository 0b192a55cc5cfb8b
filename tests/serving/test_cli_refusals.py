"""The service's commands refuse bad input with one clear error and change nothing: a missing
--config, a missing or unreachable database, a missing signing key, a bad username or
password, a port out of range. Only `serve` and `users add` create the database and the key,
and only on a fresh install (serving/cli.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from serving.api.schemas import UserCreate
from shanyraq.cli import build_app
from shanyraq.errors import ShanyraqError
from tests.serving.helpers import PASSWORD, free_port
from tests.serving.rescore_fixtures import cli_config, tiny_model

KEY = "cli-refusals-key-0123456789abcdef-0123"


def _config(tmp_path: Path, *, data_dir: Path | None = None, key: bool = False) -> Path:
    """serving.yaml on a SQLite database in `data_dir` (default: tmp_path/data)."""
    config = tmp_path / "serving.yaml"
    text = f"data_dir: {data_dir or tmp_path / 'data'}\ndatabase_url: ''\n"
    config.write_text(text + (f"secret_key: {KEY}\n" if key else ""))
    return config


def _run(*args: str | Path) -> Any:
    return CliRunner().invoke(build_app(), [str(arg) for arg in args])


def _code(result: Any) -> str | None:
    """The refusal's stable code; None when the command did not end in a domain error."""
    return result.exception.code if isinstance(result.exception, ShanyraqError) else None


def _add(config: Path, name: str = "amina", *extra: str) -> Any:
    return _run("users", "add", name, "--role", "admin", "--password", PASSWORD,
                "--config", config, *extra)  # fmt: skip


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("models"))


# --- audit verify writes nothing ------------------------------------------------------------


def test_verify_of_a_missing_database_makes_nothing(tmp_path, monkeypatch):
    data_dir = tmp_path / "typo"
    result = _run("audit", "verify", "--config", _config(tmp_path, data_dir=data_dir))
    assert _code(result) == "database_missing"
    assert str(data_dir / "shanyraq.db") in str(result.exception)
    assert not data_dir.exists()  # no database, no folder, no key
    elsewhere = tmp_path / "nodir" / "x.db"
    monkeypatch.setenv("SHANYRAQ_SERVING__DATABASE_URL", f"sqlite:///{elsewhere}")
    result = _run("audit", "verify", "--config", _config(tmp_path, key=True))
    assert _code(result) == "database_missing" and not elsewhere.parent.exists()


def test_verify_without_the_key_refuses_and_makes_none(tmp_path):
    config = _config(tmp_path)
    assert _add(config).exit_code == 0  # a fresh install: database and key made
    key_file = tmp_path / "data" / "secret_key"
    assert _run("audit", "verify", "--config", config).output == "audit log intact: 1 entries\n"
    key_file.unlink()  # e.g. the key lives in the environment, and it was not exported
    result = _run("audit", "verify", "--config", config)
    assert _code(result) == "signing_key_missing"
    assert "SHANYRAQ_SERVING__SECRET_KEY" in str(result.exception)
    assert not key_file.exists()


def test_verify_refuses_a_database_that_is_not_the_service_s(tmp_path, monkeypatch):
    config = _config(tmp_path, key=True)
    empty = tmp_path / "empty.db"
    empty.touch()
    monkeypatch.setenv("SHANYRAQ_SERVING__DATABASE_URL", f"sqlite:///{empty}")
    result = _run("audit", "verify", "--config", config)
    assert _code(result) == "database_missing" and "is empty" in str(result.exception)
    assert empty.stat().st_size == 0
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE notes (id INTEGER)")
    connection.close()
    monkeypatch.setenv("SHANYRAQ_SERVING__DATABASE_URL", f"sqlite:///{foreign}")
    result = _run("audit", "verify", "--config", config)
    assert _code(result) == "database_not_migrated"
    assert "no Shanyraq tables" in str(result.exception)
    with sqlite3.connect(foreign) as connection:  # not migrated
        tables = connection.execute("SELECT name FROM sqlite_master").fetchall()
    connection.close()
    assert tables == [("notes",)]


# --- a --config that does not exist ---------------------------------------------------------

COMMANDS = {
    "users add": ["users", "add", "amina", "--role", "admin", "--password", PASSWORD],
    "users set-password": ["users", "set-password", "amina", "--password", PASSWORD],
    "audit verify": ["audit", "verify"],
    "rescore": ["rescore", "--model", "{model}", "--no-progress"],
    "rescore promote": ["rescore", "promote", "--model", "{model}", "--no-progress"],
    "assessments refresh": ["assessments", "refresh", "--as", "amina"],
    "serve": ["serve"],
}


def _command(name: str, model: Path) -> list[str]:
    return [arg.replace("{model}", str(model)) for arg in COMMANDS[name]]


@pytest.mark.parametrize("name", COMMANDS)
def test_a_missing_config_is_refused(name, tmp_path, monkeypatch, model, served):
    monkeypatch.chdir(tmp_path)  # where the defaults (var/serving) would land
    result = _run(*_command(name, model), "--config", tmp_path / "typo.yaml")
    assert _code(result) == "config_invalid"
    assert f"{tmp_path / 'typo.yaml'}: file not found" in str(result.exception)
    assert list(tmp_path.iterdir()) == [] and served == []


# --- a database that cannot be opened -------------------------------------------------------

BAD_URLS = {
    "notaurl": "cannot be parsed",
    "bogus://x": "no installed driver for 'bogus'",
    "postgresql+psycopg://u:s3cret@127.0.0.1:1/x": "Connection refused",
}


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("name", COMMANDS)
def test_a_database_that_cannot_be_opened_is_one_clear_error(
    name, url, tmp_path, monkeypatch, model, served
):
    monkeypatch.setenv("SHANYRAQ_SERVING__DATABASE_URL", url)
    result = _run(*_command(name, model), "--config", _config(tmp_path, key=True))
    assert _code(result) == "database_unavailable"
    message = str(result.exception)
    assert BAD_URLS[url] in message and "SHANYRAQ_SERVING__DATABASE_URL" in message
    assert "s3cret" not in message and served == []


# --- who may create the database and the key ------------------------------------------------


@pytest.mark.parametrize("name", ["users set-password", "rescore", "rescore promote",
                                  "assessments refresh"])  # fmt: skip
def test_only_serve_and_users_add_create_a_database(name, tmp_path, model):
    result = _run(*_command(name, model), "--config", _config(tmp_path))
    assert _code(result) == "database_missing"
    assert not (tmp_path / "data").exists()


def test_inputs_are_checked_before_a_database_is_made(tmp_path):
    config = _config(tmp_path)
    role = _run("users", "add", "bolat", "--role", "king", "--password", PASSWORD,
                "--config", config)  # fmt: skip
    assert _code(role) == "record_invalid" and "unknown role" in str(role.exception)
    not_a_model = _run("rescore", "--model", tmp_path, "--no-progress", "--config", config)
    assert _code(not_a_model) == "model_mismatch"
    assert not (tmp_path / "data").exists()


def test_serve_makes_the_key_on_a_fresh_install_only(tmp_path, served):
    config = _config(tmp_path)
    data = tmp_path / "data"
    port = str(free_port())  # serve checks that its port is free before it starts
    assert _run("serve", "--port", port, "--config", config).exit_code == 0
    assert len(served) == 1 and (data / "shanyraq.db").exists() and (data / "secret_key").exists()
    assert _add(config).exit_code == 0  # the first audit entry, signed with that key
    (data / "secret_key").unlink()
    for args in (["serve", "--port", port],
                 ["users", "add", "bolat", "--role", "admin", "--password", PASSWORD],
                 ["users", "set-password", "amina", "--password", PASSWORD]):  # fmt: skip
        result = _run(*args, "--config", config)
        assert _code(result) == "signing_key_missing", args
        assert not (data / "secret_key").exists()
    assert len(served) == 1


def test_commands_over_photos_refuse_a_missing_key(tmp_path, model):
    config = cli_config(tmp_path, 2, model_dir=model)  # a database with photos
    config.write_text(config.read_text().replace("secret_key:", "# secret_key:"))
    for name in ("rescore", "rescore promote", "assessments refresh"):
        result = _run(*_command(name, model), "--config", config)
        assert _code(result) == "signing_key_missing", name
    assert not (tmp_path / "data" / "secret_key").exists()


# --- usernames, passwords, port, --since ----------------------------------------------------

BAD_NAMES = ["", "ab", "Bad Name!", "Amina", "a" * 65, "amina\n", "ins\u200bpector", "a/b"]
GOOD_NAMES = ["abc", "a.nurlanovna", "x_1-2", "a" * 64]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_username_is_refused_by_the_cli_and_the_api_alike(name, tmp_path):
    result = _add(_config(tmp_path), name)
    assert _code(result) == "record_invalid" and "a-z 0-9 . _ -" in str(result.exception)
    assert not (tmp_path / "data").exists()
    with pytest.raises(ValidationError):
        UserCreate(username=name, password=PASSWORD, role="admin")


def test_good_usernames_pass_both(tmp_path):
    config = _config(tmp_path, key=True)
    for name in GOOD_NAMES:
        UserCreate(username=name, password=PASSWORD, role="admin")
        assert _add(config, name).exit_code == 0, name
    assert _add(config, "a" * 65).exit_code != 0  # the same rule's upper end


@pytest.mark.parametrize("password", ["tab\there-is-long", "line\nbreak-is-long",
                                      "bell\x07-is-long", "del\x7f-is-long-enough"])  # fmt: skip
def test_a_password_with_a_control_character_is_refused(password, tmp_path):
    config = _config(tmp_path, key=True)
    added = _run("users", "add", "amina", "--role", "admin", "--password", password,
                 "--config", config)  # fmt: skip
    assert _code(added) == "password_weak" and "control character" in str(added.exception)
    assert _add(config).exit_code == 0
    reset = _run("users", "set-password", "amina", "--password", password, "--config", config)
    assert _code(reset) == "password_weak"
    # An operator's reset to the current password is allowed: it signs every session out.
    same = _run("users", "set-password", "amina", "--password", PASSWORD, "--config", config)
    assert same.exit_code == 0, same.output


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_serve_refuses_a_port_out_of_range(port, tmp_path, served):
    result = _run("serve", "--port", port, "--config", _config(tmp_path, key=True))
    assert result.exit_code == 2 and "--port" in result.output
    assert served == [] and not (tmp_path / "data").exists()


def test_rescore_since_a_future_date_warns(tmp_path, model):
    config = cli_config(tmp_path, 2, model_dir=model)
    args = ["rescore", "--model", model, "--device", "cpu", "--no-progress", "--config", config]
    future = _run(*args, "--since", "2999-01-01")
    assert future.exit_code == 0, future.output
    assert "warning: --since 2999-01-01 is in the future" in future.stderr
    assert "scored: 0" in future.stdout
    past = _run(*args, "--since", "2000-01-01")
    assert past.exit_code == 0 and "warning" not in past.stderr and "scored: 2" in past.stdout
    # The run records the model's files it scored with (RunProvenance.model_artifact).
    from serving.rescore_provenance import artifact_digest

    with sqlite3.connect(tmp_path / "data" / "shanyraq.db") as db:
        recorded = {row[0] for row in db.execute("SELECT model_artifact FROM rescore_runs")}
    assert recorded == {artifact_digest(Path(model))}
