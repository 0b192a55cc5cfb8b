"""The commands the demo's seeding tells carry the --config the demo was given (`seed_demo`'s
`config`), none where it was given none: pasted, they act on the demo's database.

Before, the `users` commands that bring back a demo account that cannot sign in, and the
`rescore` commands for photos scored by another photo model, named <data_dir>/serving.yaml
worked out from the data folder, whatever settings file the demo was given (or a file that
does not exist, where it was given none). Here the demo's settings file lies in a folder of
its own whose name a shell would split and end (a space, a quote), apart from its data
folder; the default configs point at a data folder of their own, which no told command may
make.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from serving.core.config import ServingSettings, load_serving_settings
from serving.db.models import RescoreRun
from serving.db.session import make_engine, make_session_factory
from serving.demo import (
    DemoSignInError,
    _create_accounts,
    _say_other_photo_models,
    demo_regions,
    seed_demo,
)
from tests.serving.cli_helpers import SECRET_KEY, run_cli
from tests.serving.rescore_fixtures import populate
from tests.serving.told_command_helpers import (
    default_data_apart,
    logged_lines,
    parsed,
    the_args,
    told,
)


@pytest.fixture
def default_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The default configs' data folder (not made): where a command told without --config
    would work."""
    yield from default_data_apart(tmp_path, monkeypatch)


def _demo_config(tmp_path: Path, *, model_dir: Path | None = None) -> tuple[ServingSettings, Path]:
    """The demo's settings and their file, in "site o'neil", apart from the data folder."""
    folder = tmp_path / "site o'neil"
    folder.mkdir()
    config = folder / "serving.yaml"
    values = {"data_dir": str(tmp_path / "demo data"), "database_url": "",
              "secret_key": SECRET_KEY, "model_dir": str(model_dir or ""),
              "fusion_dir": ""}  # fmt: skip
    config.write_text(yaml.safe_dump(values), encoding="utf-8")
    return load_serving_settings(config), config


def _state(config: Path, username: str) -> str:
    """`username`'s state (active or DISABLED) as `shanyraq users list --config` shows it."""
    listed = run_cli("users", "list", "--config", config)
    assert listed.exit_code == 0, listed.output
    (line,) = [row for row in listed.output.splitlines() if row.startswith(f"{username}\t")]
    return line.rsplit("\t", 1)[-1]


def test_a_demo_account_that_cannot_sign_in_is_told_the_users_commands_on_the_given_config(
    tmp_path: Path, default_data: Path
) -> None:
    settings, config = _demo_config(tmp_path)
    _create_accounts(settings, config)
    inspector = f"inspector.{demo_regions()[0].split('_')[0]}"
    assert run_cli("users", "disable", inspector, "--config", config).exit_code == 0
    assert _state(config, inspector) == "DISABLED"

    with pytest.raises(DemoSignInError) as refused:  # a library caller with no config
        seed_demo(settings, n_families=6, seed=7)
    assert the_args(refused.value.message, "users enable") == [inspector], refused.value.message

    with pytest.raises(DemoSignInError) as refused:
        seed_demo(settings, n_families=6, seed=7, config=config)
    message = refused.value.message
    enable = the_args(message, "users enable")
    assert enable == [inspector, "--config", str(config)], message
    set_password = the_args(message, "users set-password")
    assert parsed(set_password, "users", "set-password")["config"] == config, message

    enabled = run_cli("users", "enable", *enable)
    assert enabled.exit_code == 0, enabled.output
    assert _state(config, inspector) == "active"
    assert not default_data.exists()


def test_demo_photos_of_another_model_are_told_rescore_on_the_given_config(
    tmp_path: Path, default_data: Path, model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy = shutil.copytree(model, tmp_path / "models o'neil" / "model")
    settings, config = _demo_config(tmp_path, model_dir=copy)
    populate(settings.resolved_database_url, settings.store_dir, 1)  # the old model's scores
    with caplog.at_level(logging.WARNING, logger="serving.demo"):
        _say_other_photo_models(settings, config)
    (said,) = logged_lines(caplog, "scored by the photo model")
    rescore, promote = told(said, "rescore")  # `rescore`, then `rescore promote`
    assert rescore == ["--model", str(copy), "--config", str(config)], said
    assert promote[0] == "promote", said
    assert parsed(promote[1:], "rescore", "promote")["config"] == config, said

    scored = run_cli("rescore", *rescore, "--device", "cpu", "--no-progress")
    assert scored.exit_code == 0, scored.output
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            assert session.scalar(select(RescoreRun.status)) == "done"
    finally:
        engine.dispose()
    assert not default_data.exists()

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="serving.demo"):
        _say_other_photo_models(settings, None)  # a library caller with no config
    (said,) = logged_lines(caplog, "scored by the photo model")
    assert told(said, "rescore")[0] == ["--model", str(copy)], said
