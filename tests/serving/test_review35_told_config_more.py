"""A command given --config tells commands that carry that --config, all of them: run as told,
each works on the same database, not on the default configs' one.

Before, these told their commands without it: `rescore promote`'s and `rescore`'s refusals
naming `rescore promote --adopt-rest`, a new run and the promotion after it, `rescore
discard` (a run of other settings in the way, a finished run not started over), `users
set-password`'s `users enable` for a disabled account, `db status`'s `db upgrade`, and `db
upgrade`'s `users add` for a database it does not make. A site running them as written worked
on the default configs' database: refused there, or, for `users add`, made there. The default
configs here point at a data folder of their own, which no told command may make.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.storage import PhotoStore
from tests.serving.cli_helpers import (
    database_behind,
    error_code,
    head_revision,
    holding_open,
    run_cli,
    schema_revision,
    serving_config,
    sqlite_url,
)
from tests.serving.helpers import PASSWORD
from tests.serving.rescore_helpers import (
    ADOPT_REST_WALK,
    NEW_CODE,
    OLD_CODE,
    cli_service,
    half_promoted_then_updated,
    late_upload,
    new_code,
    on_model,
    promotions,
    run_rows,
)
from tests.serving.told_command_helpers import default_configs_elsewhere, option, told
from tests.serving.user_helpers import add_amina


@pytest.fixture
def default_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The default configs (SHANYRAQ_CONFIGS_DIR) on a data folder of their own, which no
    command told with the site's --config may make; that folder."""
    from serving.core.config import get_settings

    yield default_configs_elsewhere(tmp_path, monkeypatch)
    get_settings.cache_clear()


def as_told(args: list[str], model: Path) -> list[str]:
    """A told `rescore` command's arguments as the user runs them: DIR the model folder; on
    the CPU and without a progress bar where it scores, without the bar where it promotes."""
    args = [str(model) if arg == "DIR" else arg for arg in args]
    if args[0] == "promote":
        return [*args, "--no-progress"]
    return [*args, "--device", "cpu", "--no-progress"]


def rescore(config: Path, model: Path, *extra: str) -> Any:
    return run_cli("rescore", "--model", model, "--config", config, *extra,
                   "--device", "cpu", "--no-progress")  # fmt: skip


def promoted_then_late(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, str, int]:
    """Run 1 of every photo under the old code, promoted; a photo uploaded since; the code
    updated: (serving.yaml, database URL, the late photo's id)."""
    new_code(monkeypatch, OLD_CODE)
    config, url, store_root = cli_service(tmp_path, 3, model)
    assert rescore(config, model).exit_code == 0
    promoted = run_cli("rescore", "promote", "--model", model, "--config", config, "--no-progress")
    assert promoted.exit_code == 0, promoted.output
    late = late_upload(url, PhotoStore(store_root), day=10, seed=1)
    new_code(monkeypatch, NEW_CODE)
    return config, url, late


# --- rescore and rescore promote ------------------------------------------------------------


def test_a_half_promoted_run_tells_adopt_rest_and_the_run_after_on_the_same_database(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch, default_data: Path
) -> None:
    config, url, late = half_promoted_then_updated(tmp_path, model, monkeypatch)
    refused_run = rescore(config, model)
    assert error_code(refused_run) == "rescore_resume_mismatch", refused_run.output
    (rest,) = [
        a for a in told(refused_run.exception.message, "rescore promote") if "--adopt-rest" in a
    ]
    assert rest[-3:] == ["--adopt-rest", "--config", str(config)], refused_run.exception.message

    refused = run_cli("rescore", "promote", "--model", model, "--config", config)
    assert error_code(refused) == "rescore_scope_partial", refused.output
    (rest,) = [a for a in told(refused.exception.message, "rescore") if "--adopt-rest" in a]
    assert option(rest, "--config") == str(config), refused.exception.message

    stopped = run_cli("rescore", *as_told(rest, model))
    assert error_code(stopped) == "rescore_scope_partial", stopped.output  # stops for the late one
    (new_run,) = [a for a in told(stopped.exception.message, "rescore") if "--since" in a]
    scored = run_cli("rescore", *as_told(new_run, model))
    assert scored.exit_code == 0, scored.output
    promoted = run_cli("rescore", "promote", "--model", model, "--config", config, "--no-progress")
    assert promoted.exit_code == 0, promoted.output
    assert promotions(url) == ADOPT_REST_WALK and late in on_model(url)
    assert not default_data.exists()


def test_a_promoted_run_under_other_code_tells_the_new_run_and_its_promotion_on_it(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch, default_data: Path
) -> None:
    config, url, late = promoted_then_late(tmp_path, model, monkeypatch)
    refused = rescore(config, model)
    assert error_code(refused) == "rescore_resume_mismatch", refused.output
    said = refused.exception.message
    (new_run,) = [args for args in told(said, "rescore") if "--since" in args]
    (promote,) = [args for args in told(said, "rescore") if args[0] == "promote"]
    assert option(new_run, "--config") == str(config) == option(promote, "--config"), said

    scored = run_cli("rescore", *as_told(new_run, model))
    assert scored.exit_code == 0, scored.output
    promoted = run_cli("rescore", *as_told(promote, model))
    assert promoted.exit_code == 0, promoted.output
    assert on_model(url) == {1, 2, 3, late}
    assert not default_data.exists()


def test_a_run_of_other_code_in_the_way_tells_its_discard_on_the_same_database(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch, default_data: Path
) -> None:
    new_code(monkeypatch, OLD_CODE)
    config, url, _ = cli_service(tmp_path, 3, model)
    assert rescore(config, model).exit_code == 0
    new_code(monkeypatch, NEW_CODE)
    refused = rescore(config, model, "--since", "2026-01-02")
    assert error_code(refused) == "rescore_provenance_conflict", refused.output
    said = refused.exception.message
    (discard,) = [args for args in told(said, "rescore") if args[0] == "discard"]
    (promote,) = [args for args in told(said, "rescore") if args[0] == "promote"]
    assert option(discard, "--config") == str(config) == option(promote, "--config"), said

    discarded = run_cli("rescore", *[str(model) if a == "DIR" else a for a in discard])
    assert discarded.exit_code == 0, discarded.output
    assert run_rows(url) == []
    assert rescore(config, model, "--since", "2026-01-02").exit_code == 0  # no longer in the way
    assert not default_data.exists()


def test_a_finished_run_not_started_over_tells_its_discard_on_the_same_database(
    tmp_path: Path, model: Path, default_data: Path
) -> None:
    config, url, _ = cli_service(tmp_path, 3, model)
    assert rescore(config, model).exit_code == 0
    refused = rescore(config, model, "--restart")
    assert error_code(refused) == "rescore_restart_refused", refused.output
    (discard,) = told(refused.exception.message, "rescore discard")
    assert option(discard, "--config") == str(config), refused.exception.message

    discard = [str(model) if arg == "DIR" else arg for arg in discard]
    discarded = run_cli("rescore", "discard", *discard)
    assert discarded.exit_code == 0, discarded.output
    assert run_rows(url) == []
    assert not default_data.exists()


# --- users and db ---------------------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """The folder of a site's serving.yaml and data, beside the default configs'."""
    (tmp_path / "site").mkdir()
    return tmp_path / "site"


def test_a_disabled_accounts_new_password_tells_users_enable_on_the_same_database(
    site: Path, default_data: Path
) -> None:
    config = add_amina(site)
    assert run_cli("users", "disable", "amina", "--config", config).exit_code == 0
    reset = run_cli("users", "set-password", "amina", "--password-stdin", "--config", config,
                    stdin="another-password-2\n")  # fmt: skip
    assert reset.exit_code == 0 and "amina is DISABLED" in reset.output, reset.output
    (enable,) = told(reset.output, "users enable")
    assert enable == ["amina", "--config", str(config)], reset.output

    enabled = run_cli("users", "enable", *enable)
    assert enabled.exit_code == 0, enabled.output
    listed = run_cli("users", "list", "--config", config)
    assert "amina\tadmin\tall regions\tactive" in listed.output, listed.output
    assert not default_data.exists()


def test_a_database_behind_tells_db_upgrade_on_the_same_database(
    site: Path, default_data: Path
) -> None:
    url = sqlite_url(site)
    config = database_behind(site, url)
    status = run_cli("db", "status", "--config", config)
    assert status.exit_code == 3, status.output
    (upgrade,) = told(status.output, "db upgrade")
    assert upgrade == ["--config", str(config)], status.output

    upgraded = run_cli("db", "upgrade", *upgrade)
    assert upgraded.exit_code == 0, upgraded.output
    assert schema_revision(url) == head_revision()
    assert not default_data.exists()


def test_a_database_db_upgrade_does_not_make_tells_users_add_on_the_same_database(
    site: Path, default_data: Path
) -> None:
    url = sqlite_url(site)
    config = serving_config(site, url)
    refused = run_cli("db", "upgrade", "--config", config)
    assert error_code(refused) == "database_missing", refused.output
    (add,) = told(refused.exception.message, "users add")
    assert add == ["--config", str(config)], refused.exception.message

    added = run_cli("users", "add", "amina", "--role", "admin", "--password-stdin", *add,
                    stdin=f"{PASSWORD}\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert schema_revision(url) == head_revision()  # made where the upgrade looked
    assert not default_data.exists()


def test_a_database_in_use_tells_db_upgrade_again_on_the_same_database(
    site: Path, default_data: Path
) -> None:
    url = sqlite_url(site)
    config = database_behind(site, url)
    with holding_open(site / "data" / "shanyraq.db"):  # the service, say
        refused = run_cli("db", "upgrade", "--config", config)
    assert error_code(refused) == "database_in_use", refused.output
    (upgrade,) = told(refused.exception.message, "db upgrade")
    assert upgrade == ["--config", str(config)], refused.exception.message

    upgraded = run_cli("db", "upgrade", *upgrade)  # once it has stopped
    assert upgraded.exit_code == 0, upgraded.output
    assert schema_revision(url) == head_revision()
    assert not default_data.exists()


def test_the_told_config_is_kept_beside_what_the_sessions_carry_already(tmp_path: Path) -> None:
    """`tell_config` adds the --config to the sessions' info: an audit anchor file configured
    on the factory before it is kept (every session still anchors its heads)."""
    from sqlalchemy.orm import sessionmaker

    from serving.audit_anchor import ANCHOR_INFO_KEY
    from serving.rescore_runs import tell_config, told_config

    sessions = sessionmaker(info={ANCHOR_INFO_KEY: tmp_path / "anchor"})
    tell_config(sessions, tmp_path / "site.yaml")
    with sessions() as session:
        assert session.info[ANCHOR_INFO_KEY] == tmp_path / "anchor"
        assert told_config(session) == tmp_path / "site.yaml"
