"""Refusals of `users add`, `serve` and `assessments refresh` found by the CLI review: a used
data folder whose database is empty or gone is not taken for a fresh install; a database made
by another command at the same time is said so; a password of spaces only is refused; the
messages say what they mean (an account's role needs a region; a refresh's actor)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shanyraq.cli import build_app
from shanyraq.errors import ShanyraqError
from tests.serving.helpers import PASSWORD
from tests.serving.rescore_fixtures import cli_config

KEY = "review-refusals-key-0123456789abcdef-0123"


def _run(*args: str | Path) -> Any:
    return CliRunner().invoke(build_app(), [str(arg) for arg in args])


def _code(result: Any) -> str | None:
    return result.exception.code if isinstance(result.exception, ShanyraqError) else None


def _config(tmp_path: Path, *, key: bool = False) -> Path:
    config = tmp_path / "serving.yaml"
    text = f"data_dir: {tmp_path / 'data'}\ndatabase_url: ''\n"
    config.write_text(text + (f"secret_key: {KEY}\n" if key else ""))
    return config


def _add(config: Path, name: str = "amina", *, password: str = PASSWORD) -> Any:
    return _run("users", "add", name, "--role", "admin", "--password", password,
                "--config", config)  # fmt: skip


# --- a used data folder is not a fresh install ---------------------------------------------


def _used(tmp_path: Path, sign: str) -> Path:
    """A data folder that shows one sign of use, its database then emptied; its config."""
    data = tmp_path / "data"
    if sign == "photo":  # only a photo: the key is in the config, no anchor entries
        config = _config(tmp_path, key=True)
        photo = b"\xff\xd8 a stored original"
        digest = hashlib.sha256(photo).hexdigest()
        (data / "photos" / "originals" / digest[:2]).mkdir(parents=True)
        (data / "photos" / "originals" / digest[:2] / digest).write_bytes(photo)
        return config
    config = _config(tmp_path, key=sign == "anchor")  # "anchor": no key file made
    assert _add(config).exit_code == 0
    if sign == "key":
        (data / "audit_anchor.log").unlink()
    return config


@pytest.mark.parametrize("database", ["empty", "gone"])
@pytest.mark.parametrize("sign", ["key", "anchor", "photo"])
def test_users_add_refuses_a_used_data_folder_without_its_database(
    sign, database, tmp_path, served
):
    config = _used(tmp_path, sign)
    db = tmp_path / "data" / "shanyraq.db"
    if database == "empty":
        db.write_bytes(b"")
    else:
        db.unlink(missing_ok=True)
    before = sorted(p.name for p in (tmp_path / "data").iterdir())
    for args in (["users", "add", "adm3", "--role", "admin", "--password", PASSWORD],
                 ["serve"]):  # fmt: skip
        refused = _run(*args, "--config", config)
        assert _code(refused) == "database_missing", refused.output
        message = str(refused.exception)
        assert {"key": "signing key", "anchor": "audit anchor", "photo": "photos"}[sign] in message
        assert "Restore the database from its backup" in message
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == before
    assert (db.stat().st_size == 0) if database == "empty" else not db.exists()
    assert served == []


def test_a_fresh_install_is_still_made(tmp_path):
    config = _config(tmp_path)
    assert _add(config).exit_code == 0
    assert _add(config, "bolat").exit_code == 0  # and used afterwards as before
    assert _run("audit", "verify", "--config", config).exit_code == 0


# --- two commands creating the database at once ---------------------------------------------


def test_a_database_made_meanwhile_by_another_command_is_said_so(tmp_path, monkeypatch):
    """As when two `users add` start on a fresh install: both find no tables, the other one
    migrates first, and this one's migration then fails on a table that exists already."""
    from sqlalchemy import create_engine

    from serving import migrations

    real_upgrade = migrations.upgrade

    def other_command_first(url: str, *args: Any, **kwargs: Any) -> None:
        real_upgrade(url)  # the other command's migration, committed first
        engine = create_engine(url)
        try:
            with engine.begin() as connection:  # this one's first CREATE TABLE
                connection.exec_driver_sql("CREATE TABLE revoked_tokens (jti TEXT)")
        finally:
            engine.dispose()

    monkeypatch.setattr(migrations, "upgrade", other_command_first)
    config = _config(tmp_path)
    lost = _add(config)
    assert _code(lost) == "conflict", lost.output
    message = str(lost.exception)
    assert "at the same time" in message and "run this command again" in message
    assert "database_url" not in message
    monkeypatch.undo()
    again = _add(config)
    assert again.exit_code == 0, again.output


# --- passwords and wording ------------------------------------------------------------------


@pytest.mark.parametrize("password", [" " * 10, " " * 12, "\u3000" * 10, " \u00a0" * 6])
def test_a_password_of_spaces_only_is_refused(password, tmp_path):
    config = _config(tmp_path)
    refused = _add(config, password=password)
    assert _code(refused) == "password_weak" and "only spaces" in str(refused.exception)
    assert refused.exception.reason == "blank"
    assert not (tmp_path / "data").exists()
    assert _add(config).exit_code == 0
    reset = _run("users", "set-password", "amina", "--password", password, "--config", config)
    assert _code(reset) == "password_weak"


def test_a_password_with_spaces_among_other_characters_is_still_accepted(tmp_path):
    config = _config(tmp_path)
    assert _add(config, password="  correct horse  ").exit_code == 0


def test_every_language_says_why_a_blank_password_is_refused():
    from serving.web.i18n import LANGUAGES, load_catalogues

    catalogues = load_catalogues()
    for language in LANGUAGES:
        assert "password.blank" in catalogues[language], language
    assert catalogues["ru"]["password.blank"] != catalogues["en"]["password.blank"]
    assert catalogues["kk"]["password.blank"] != catalogues["en"]["password.blank"]


def test_a_missing_region_is_worded_for_any_role(tmp_path):
    config = _config(tmp_path)
    for role in ("inspector", "annotator", "commission"):
        refused = _run("users", "add", "bolat", "--role", role, "--password", PASSWORD,
                       "--config", config)  # fmt: skip
        message = str(refused.exception)
        assert _code(refused) == "record_invalid" and "needs a region" in message
        assert f"a {role} needs" not in message
        assert f"role {role} needs a region" in message


@pytest.mark.parametrize("dry_run", [True, False])
def test_refresh_refuses_a_non_admin_in_its_own_words(dry_run, tmp_path):
    config = cli_config(tmp_path, 1)  # an admin named "admin", one photo
    args = ["assessments", "refresh", "--as", "nobody", "--config", config]
    refused = _run(*args, *(["--dry-run"] if dry_run else []))
    assert _code(refused) == "reassess_actor_invalid", refused.output
    message = str(refused.exception)
    assert "covers every region" not in message  # promote's reason, not a refresh's
    assert "refresh" in message and "regional admin" in message
