"""A command given --config that is refused a database behind this version
(`database_not_migrated`, auto_migrate off) tells `shanyraq db upgrade` and `shanyraq db
backup OUT` with that --config: run as told, they back up and upgrade the database it was
refused on, not the default configs' one.

Before, the refusal named both without --config, from every command that opens the database
(serve, users, audit verify, assessments refresh, store sweep, rescore): run as written, they
worked on the default configs' database. The site's folder here holds a space and a quote, so
a --config told unquoted would not reach it. The default configs point at a data folder of
their own, which no told command may make.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from alembic import command

from serving.migrations import alembic_config, open_database
from tests.serving.cli_helpers import (
    OLD_REVISION,
    SECRET_KEY,
    error_code,
    head_revision,
    run_cli,
    schema_revision,
)
from tests.serving.helpers import PASSWORD
from tests.serving.rescore_fixtures import tiny_model
from tests.serving.told_command_helpers import default_configs_elsewhere, option, told


@dataclass(frozen=True)
class Site:
    """A site's serving.yaml (auto_migrate off) over a database an older version left (at
    OLD_REVISION, one admin account), in a folder whose name holds a space and a quote."""

    config: Path
    url: str
    folder: Path
    default_data: Path


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    from serving.core.config import get_settings

    default_data = default_configs_elsewhere(tmp_path, monkeypatch)
    folder = tmp_path / "site o'neil"
    folder.mkdir()
    url = f"sqlite:///{folder / 'data' / 'shanyraq.db'}"
    config = folder / "serving.yaml"
    settings = {
        "data_dir": str(folder / "data"), "database_url": url, "auto_migrate": False,
        "audit_anchor_file": str(folder / "anchor.log"), "secret_key": SECRET_KEY,
        "model_dir": "", "fusion_dir": "",
    }  # fmt: skip
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    added = run_cli("users", "add", "amina", "--role", "admin", "--config", config,
                    stdin=f"{PASSWORD}\n{PASSWORD}\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    command.downgrade(alembic_config(url), OLD_REVISION)
    yield Site(config, url, folder, default_data)
    get_settings.cache_clear()


# Each command that opens the database for a site, refused it while it is behind.
REFUSED = [
    pytest.param(["serve"], id="serve"),
    pytest.param(["users", "list"], id="users-list"),
    pytest.param(["users", "disable", "amina"], id="users-disable"),
    pytest.param(["users", "add", "bolat", "--role", "admin"], id="users-add"),
    pytest.param(["audit", "verify"], id="audit-verify"),
    pytest.param(["assessments", "refresh", "--as", "amina"], id="assessments-refresh"),
    pytest.param(["assessments", "refresh", "--as", "amina", "--dry-run"], id="refresh-dry-run"),
    pytest.param(["store", "sweep"], id="store-sweep"),
    pytest.param(["store", "sweep", "--apply"], id="store-sweep-apply"),
]


@pytest.mark.parametrize("args", REFUSED)
def test_a_database_behind_tells_the_upgrade_and_backup_of_the_same_database(
    site: Site, args: list[str]
) -> None:
    stdin = f"{PASSWORD}\n{PASSWORD}\n" if args[:2] == ["users", "add"] else None
    refused = run_cli(*args, "--config", site.config, stdin=stdin)
    assert error_code(refused) == "database_not_migrated", refused.output
    message = str(refused.exception)
    (upgrade,) = told(message, "db upgrade")
    (backup,) = told(message, "db backup")
    assert upgrade == ["--config", str(site.config)], message
    assert backup == ["OUT", "--config", str(site.config)], message

    out = site.folder / "before upgrade.db"
    backed_up = run_cli("db", "backup", *[str(out) if a == "OUT" else a for a in backup])
    assert backed_up.exit_code == 0, backed_up.output
    assert out.is_file()
    upgraded = run_cli("db", "upgrade", *upgrade)
    assert upgraded.exit_code == 0, upgraded.output
    assert schema_revision(site.url) == head_revision()
    assert not site.default_data.exists()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["rescore", "--device", "cpu", "--no-progress"], id="rescore"),
        pytest.param(["rescore", "discard"], id="rescore-discard"),
        pytest.param(["rescore", "promote"], id="rescore-promote"),
        pytest.param(["rescore", "promote", "--dry-run"], id="promote-dry-run"),
    ],
)
def test_a_rescoring_command_tells_the_upgrade_of_the_same_database(
    site: Site, args: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    model = tiny_model(tmp_path_factory.mktemp("models"))
    refused = run_cli(*args, "--model", model, "--config", site.config)
    assert error_code(refused) == "database_not_migrated", refused.output
    (upgrade,) = told(str(refused.exception), "db upgrade")
    assert upgrade == ["--config", str(site.config)], refused.exception

    assert run_cli("db", "upgrade", *upgrade).exit_code == 0
    assert schema_revision(site.url) == head_revision()
    assert not site.default_data.exists()


def test_the_told_commands_run_the_refused_command_again_on_the_same_database(
    site: Site,
) -> None:
    refused = run_cli("users", "list", "--config", site.config)
    assert error_code(refused) == "database_not_migrated", refused.output
    (upgrade,) = told(str(refused.exception), "db upgrade")
    assert option(upgrade, "--config") == str(site.config)
    assert run_cli("db", "upgrade", *upgrade).exit_code == 0

    listed = run_cli("users", "list", "--config", site.config)
    assert listed.exit_code == 0, listed.output
    assert "amina\tadmin" in listed.output
    assert not site.default_data.exists()


def test_a_library_caller_that_names_no_config_is_told_the_commands_as_before(
    site: Site,
) -> None:
    from serving.migrations import DatabaseNotMigratedError

    with pytest.raises(DatabaseNotMigratedError) as refused:
        open_database(site.url, create=False, migrate=False)
    message = refused.value.message
    assert told(message, "db upgrade") == [[]], message
    assert told(message, "db backup") == [["OUT"]], message
