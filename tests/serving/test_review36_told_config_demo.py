"""The commands the demo and `db upgrade`'s in-use check tell carry the --config of the
database they were told about, each word quoted as a shell needs it: run as told, they work
on that database, not on the default configs' one.

Before, a demo account that could not sign in (disabled on the demo's database) was told
"`users enable` brings it back": no `shanyraq`, no account name, no --config, so pasted it
enabled nothing on the demo's database. Where `db upgrade` cannot tell who has a SQLite
database open, it told `shanyraq db upgrade --force` without the upgrade's --config. The
folders here hold a space and a quote; the default configs point at a data folder of their
own, which no told command may make.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from alembic import command
from sqlalchemy import select

from serving.db.models import User
from serving.db.session import make_engine, make_session_factory
from serving.db_upgrade import DatabaseInUseError
from serving.demo import DEMO_CONFIG, _create_accounts, demo_regions, seed_demo
from serving.migrations import alembic_config
from shanyraq.errors import ShanyraqError
from tests.serving.cli_helpers import (
    OLD_REVISION,
    SECRET_KEY,
    head_revision,
    holding_open,
    run_cli,
    schema_revision,
)
from tests.serving.helpers import make_settings
from tests.serving.told_command_helpers import default_configs_elsewhere, option, told


@pytest.fixture
def default_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The default configs' data folder (not made): where a command told without --config
    would work."""
    from serving.core.config import get_settings

    yield default_configs_elsewhere(tmp_path, monkeypatch)
    get_settings.cache_clear()


def _active(url: str, username: str) -> bool:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return bool(session.scalar(select(User.active).where(User.username == username)))
    finally:
        engine.dispose()


def test_a_disabled_demo_account_is_told_the_enable_that_brings_it_back(
    tmp_path: Path, default_data: Path
) -> None:
    settings = make_settings(tmp_path / "demo o'neil", "", secret_key=SECRET_KEY)
    config = settings.data_dir / DEMO_CONFIG  # as the demo writes its settings for --config
    _create_accounts(settings)
    values = {"data_dir": str(settings.data_dir), "database_url": "",
              "secret_key": SECRET_KEY, "model_dir": "", "fusion_dir": ""}  # fmt: skip
    config.write_text(yaml.safe_dump(values), encoding="utf-8")
    inspector = f"inspector.{demo_regions()[0].split('_')[0]}"
    assert run_cli("users", "disable", inspector, "--config", config).exit_code == 0

    with pytest.raises(ShanyraqError) as refused:
        seed_demo(settings, n_families=6, seed=7, config=config.resolve())
    message = refused.value.message
    assert refused.value.code == "demo_sign_in", message
    (enable,) = told(message, "users enable")
    (set_password,) = told(message, "users set-password")
    assert enable == [inspector, "--config", str(config.resolve())], message
    assert option(set_password, "--config") == str(config.resolve()), message

    enabled = run_cli("users", "enable", *enable)
    assert enabled.exit_code == 0, enabled.output
    assert _active(settings.resolved_database_url, inspector)
    assert not default_data.exists()


def test_db_upgrade_that_cannot_tell_who_holds_the_database_tells_force_on_it(
    tmp_path: Path, default_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "site o'neil"
    database = folder / "data" / "shanyraq.db"
    url = f"sqlite:///{database}"
    config = folder / "serving.yaml"
    folder.mkdir()
    values = {"data_dir": str(folder / "data"), "database_url": url, "auto_migrate": False,
              "audit_anchor_file": str(folder / "anchor.log"), "secret_key": SECRET_KEY,
              "model_dir": "", "fusion_dir": ""}  # fmt: skip
    config.write_text(yaml.safe_dump(values), encoding="utf-8")
    added = run_cli("users", "add", "amina", "--role", "admin", "--config", config,
                    stdin="told-config-password-1\ntold-config-password-1\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    command.downgrade(alembic_config(url), OLD_REVISION)

    with monkeypatch.context() as patched, holding_open(database):  # its -shm file exists
        patched.setattr(sys, "platform", "darwin")  # where the kernel cannot be asked
        refused = run_cli("db", "upgrade", "--config", config)
    assert isinstance(refused.exception, DatabaseInUseError), refused.output
    message = refused.exception.message
    (force,) = told(message, "db upgrade")
    assert force == ["--force", "--config", str(config)], message
    (lsof,) = re.findall(r"`lsof ([^`]*)`", message)
    assert shlex.split(lsof) == [f"{database}-shm"], message

    upgraded = run_cli("db", "upgrade", *force)
    assert upgraded.exit_code == 0, upgraded.output
    assert schema_revision(url) == head_revision()
    assert not default_data.exists()
