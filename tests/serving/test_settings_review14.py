"""SHANYRAQ_ variables that are no setting are refused, naming the closest valid one (a
misspelt database URL would otherwise leave the service on the default SQLite file), while
every valid one and the project's own non-setting ones still work; and a database migrated by
newer code is refused in one line by code that opens it directly, as the CLI refuses it."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from annotation.settings import LabelStudioEnv
from serving.app import create_app
from serving.core.config import ServingSettings, load_serving_settings
from serving.migrations import DatabaseNotMigratedError, open_database, upgrade
from shanyraq import cli as shanyraq_cli
from shanyraq.config import (
    OWN_ENV_NAMES,
    Settings,
    default_configs_dir,
    get_settings,
    settings_env_names,
)
from shanyraq.errors import ConfigError
from tests.serving.cli_helpers import newer_database

SECRET = "review14-secret-key-0123456789abcdef"


@pytest.fixture
def fresh_settings():
    """shanyraq.config.get_settings read anew in the test and after it."""
    get_settings.cache_clear()
    yield get_settings
    get_settings.cache_clear()


def _site(tmp_path: Path, **values: Any) -> Path:
    site = tmp_path / "serving.yaml"
    lines = {"data_dir": str(tmp_path / "data"), "secret_key": SECRET, **values}
    site.write_text("".join(f"{key}: '{value}'\n" for key, value in lines.items()))
    return site


# --- misspelt variables ---------------------------------------------------------------------


def test_a_misspelt_service_variable_is_refused_naming_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("SHANYRAQ_SERVING__DATABSE_URL", "postgresql+psycopg://u@db/shanyraq")
    with pytest.raises(ConfigError) as info:
        load_serving_settings(_site(tmp_path))
    assert info.value.code == "config_invalid"
    assert str(info.value) == (
        "SHANYRAQ_SERVING__DATABSE_URL is not a setting; "
        "did you mean SHANYRAQ_SERVING__DATABASE_URL?"
    )


@pytest.mark.parametrize(
    ("misspelt", "meant"),  # after SHANYRAQ_
    [
        # a nested key, at its own level
        ("SERVING__RATE_LIMITS__LOGIN_PER_MINUT", "SERVING__RATE_LIMITS__LOGIN_PER_MINUTE"),
        ("SERVING__BATCHING__MAXBATCH", "SERVING__BATCHING__MAX_BATCH"),
        # a misspelt group with a right key under it
        ("SERVING__RATE_LIMTS__UPLOAD_PER_MINUTE", "SERVING__RATE_LIMITS__UPLOAD_PER_MINUTE"),
        ("SERVNG__PORT", "SERVING__PORT"),
        # one underscore for the delimiter's two
        ("SERVING_DATABASE_URL", "SERVING__DATABASE_URL"),
        # shanyraq.yaml's settings, which the service reads too, and the project's own names
        ("IO__MAX_PIXLS", "IO__MAX_PIXELS"),
        ("CONFIG_DIR", "CONFIGS_DIR"),
        ("LABEL_STUDIO_TOKN", "LABEL_STUDIO_TOKEN"),
    ],
)
def test_the_service_refuses_each_misspelling_naming_the_closest_name(
    misspelt, meant, tmp_path, monkeypatch
):
    monkeypatch.setenv(f"SHANYRAQ_{misspelt}", "1")
    with pytest.raises(ConfigError) as info:
        load_serving_settings(_site(tmp_path))
    assert str(info.value) == (
        f"SHANYRAQ_{misspelt} is not a setting; did you mean SHANYRAQ_{meant}?"
    )


def test_a_variable_like_no_setting_is_refused_without_a_guess(tmp_path, monkeypatch):
    # engine.yaml has no environment override: before, this was ignored without a word.
    monkeypatch.setenv("SHANYRAQ_ENGINE__BATCH_SIZE", "8")
    with pytest.raises(ConfigError) as info:
        load_serving_settings(_site(tmp_path))
    message = str(info.value)
    assert message.startswith("SHANYRAQ_ENGINE__BATCH_SIZE is not a setting; unset it")
    assert "did you mean" not in message and "README" in message


def test_shanyraq_settings_refuse_a_misspelt_variable_top_level_and_nested(
    fresh_settings, monkeypatch
):
    monkeypatch.setenv("SHANYRAQ_IO__MAX_PIXLS", "1234")
    with pytest.raises(ConfigError) as info:
        fresh_settings()
    assert str(info.value).endswith("did you mean SHANYRAQ_IO__MAX_PIXELS?")
    monkeypatch.delenv("SHANYRAQ_IO__MAX_PIXLS")
    monkeypatch.setenv("SHANYRAQ_IOO", '{"max_pixels": 1234}')
    fresh_settings.cache_clear()
    with pytest.raises(ConfigError) as info:
        fresh_settings()
    assert str(info.value) == "SHANYRAQ_IOO is not a setting; did you mean SHANYRAQ_IO?"


def test_a_command_without_the_service_leaves_its_variables_to_it(fresh_settings, monkeypatch):
    # Training and annotation read shanyraq.yaml only: the service's names (and misspellings
    # of them) are checked where they are read, with the names they are checked against.
    monkeypatch.setenv("SHANYRAQ_SERVING__DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("SHANYRAQ_SERVING__DATABSE_URL", "sqlite:///x.db")
    assert fresh_settings().io.max_pixels > 0


def test_the_cli_prints_one_line_naming_the_setting(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SHANYRAQ_SERVING__DATABSE_URL", "postgresql+psycopg://u@db/shanyraq")
    monkeypatch.setattr(sys, "argv", ["shanyraq", "db", "status", "--config", str(_site(tmp_path))])
    with pytest.raises(SystemExit) as info:
        shanyraq_cli.main()
    assert info.value.code == 2
    assert capsys.readouterr().err == (
        "error [config_invalid]: SHANYRAQ_SERVING__DATABSE_URL is not a setting; "
        "did you mean SHANYRAQ_SERVING__DATABASE_URL?\n"
    )
    assert not (tmp_path / "data").exists()  # refused before anything was made


# --- valid variables ------------------------------------------------------------------------


def _leaves(model: BaseModel, prefix: str) -> dict[str, Any]:
    """Every settings key under `model` as its variable's name, with its current value."""
    found: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            found.update(_leaves(value, f"{prefix}{name.upper()}__"))
        else:
            found[f"{prefix}{name.upper()}"] = value
    return found


def _changed(value: Any, tmp_path: Path) -> Any:
    """Another valid value of the same kind, so a test sees that the variable was read."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if value is None:  # a path, or the secret key (32+ characters)
        return str(tmp_path / ("x" * 32))
    return value


def _env_text(value: Any) -> str:
    return json.dumps(_plain(value)) if isinstance(value, list) else str(value)


def _plain(value: Any) -> Any:
    """A setting's value as text where its type is not one JSON has (a path, a network)."""
    if isinstance(value, list):
        return [str(item) for item in value]
    if hasattr(value, "get_secret_value"):
        return value.get_secret_value()
    return str(value) if isinstance(value, Path) else value


def test_every_service_variable_is_read_not_refused(tmp_path, monkeypatch):
    site = _site(tmp_path)
    defaults = _leaves(load_serving_settings(site, secret_key=None), "SHANYRAQ_SERVING__")
    assert set(defaults) <= settings_env_names(ServingSettings)
    wanted = {name: _changed(value, tmp_path) for name, value in defaults.items()}
    for name, value in wanted.items():
        monkeypatch.setenv(name, _env_text(value))

    loaded = _leaves(load_serving_settings(site), "SHANYRAQ_SERVING__")

    assert {name: _plain(value) for name, value in loaded.items()} == {
        name: _plain(value) for name, value in wanted.items()
    }


def test_a_settings_group_as_json_is_not_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SHANYRAQ_SERVING__BATCHING", '{"enabled": false, "max_batch": 3}')
    monkeypatch.setenv("SHANYRAQ_IO", '{"max_pixels": 1234}')
    settings = load_serving_settings(_site(tmp_path))
    assert (settings.batching.enabled, settings.batching.max_batch) == (False, 3)


def test_every_shanyraq_variable_is_read_not_refused(fresh_settings, monkeypatch):
    monkeypatch.setenv("SHANYRAQ_IO__MAX_PIXELS", "1234")
    monkeypatch.setenv("SHANYRAQ_IO__MAX_BYTES", "5678")
    monkeypatch.setenv("SHANYRAQ_IO__STORED_MAX_PIXELS", "9012")
    monkeypatch.setenv("SHANYRAQ_CONFIGS_DIR", str(default_configs_dir()))
    assert settings_env_names(Settings) == {
        "SHANYRAQ_CONFIGS_DIR", "SHANYRAQ_IO", "SHANYRAQ_IO__MAX_PIXELS", "SHANYRAQ_IO__MAX_BYTES",
        "SHANYRAQ_IO__STORED_MAX_PIXELS",
    }  # fmt: skip
    settings = fresh_settings()
    assert (settings.io.max_pixels, settings.io.max_bytes) == (1234, 5678)
    assert settings.io.stored_max_pixels == 9012


def test_the_projects_own_variables_are_not_refused(fresh_settings, tmp_path, monkeypatch):
    # Each name the list allows is one the project reads, apart from the settings classes.
    assert shanyraq_cli.DEBUG_ENV in OWN_ENV_NAMES
    assert settings_env_names(LabelStudioEnv) <= OWN_ENV_NAMES
    for name in OWN_ENV_NAMES:
        monkeypatch.setenv(name, str(default_configs_dir()) if name.endswith("DIR") else "1")
    monkeypatch.setenv("SHANYRAQ_LABEL_STUDIO_URL", "http://127.0.0.1:8080")
    monkeypatch.setenv("shanyraq_serving__port", "8123")  # read whatever its case
    assert fresh_settings().io.max_pixels > 0
    assert load_serving_settings(_site(tmp_path)).port == 8123


# --- a database of newer code, opened directly ----------------------------------------------


def _revision(database: Path) -> list[tuple[str]]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    connection.close()
    return rows


def _assert_newer_refusal(error: DatabaseNotMigratedError, database: Path) -> None:
    message = str(error)
    assert error.code == "database_not_migrated"
    assert f"the database at sqlite:///{database} is at migration 9999" in message
    assert message.endswith("cannot take it back: run the version that wrote it")
    assert "Can't locate" not in message and "\n" not in message
    assert _revision(database) == [("9999",)]  # nothing changed


@pytest.mark.parametrize("migrate", [True, False])
def test_open_database_refuses_a_database_of_newer_code_in_one_line(migrate, tmp_path):
    database = tmp_path / "newer.db"
    url = newer_database(database)
    with pytest.raises(DatabaseNotMigratedError) as info:
        open_database(url, create=False, migrate=migrate)
    _assert_newer_refusal(info.value, database)


def test_upgrade_refuses_a_database_of_newer_code_in_one_line(tmp_path):
    database = tmp_path / "newer.db"
    url = newer_database(database)
    with pytest.raises(DatabaseNotMigratedError) as info:
        upgrade(url, seal_with=SECRET.encode())
    _assert_newer_refusal(info.value, database)


def test_a_service_built_with_create_app_refuses_a_database_of_newer_code(tmp_path):
    database = tmp_path / "newer.db"
    url = newer_database(database)
    settings = load_serving_settings(_site(tmp_path, database_url=url))
    assert settings.auto_migrate
    with pytest.raises(DatabaseNotMigratedError) as info, TestClient(create_app(settings)):
        pass
    _assert_newer_refusal(info.value, database)


def test_an_unknown_target_on_a_database_of_ours_is_still_alembics_error(tmp_path):
    from alembic.util import CommandError

    url = f"sqlite:///{tmp_path / 'ours.db'}"
    upgrade(url)
    with pytest.raises(CommandError):
        upgrade(url, "f00dfacade99")  # a caller's mistake, not the database's
