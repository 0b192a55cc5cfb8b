"""The `shanyraq audit verify` that `shanyraq demo` logs, when its database's audit head was
left unsealed, carries the demo's settings file as --config, so that, run as told, it checks
the demo's log: the sealing of its migration, the disabling of the accounts of a region gone
from configs/welfare.yaml, and the seeding's sign-ins.

Before, the demo migrated, settled its regional accounts and seeded without its settings file:
each `audit verify` it logged was bare, and run as written it looked for the default configs'
database. The demo's folder here holds a space and a quote; the default configs point at a
data folder of their own, which no told command may make.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from serving import demo_build
from serving.db.session import make_engine
from serving.demo import SEED_MARKER, _create_accounts, demo_regions, demo_settings
from serving.demo_build import DemoPaths
from tests.serving.cli_helpers import run_cli
from tests.serving.told_command_helpers import (
    default_configs_elsewhere,
    logged_lines,
    told,
    verifies_the_site,
)

FOLDER = "demo o'neil"
FUSION = "lgbm_tabular"


@pytest.fixture
def default_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The default configs' data folder (not made); the configs the demo runs under are theirs
    (tmp_path/default-configs), read anew after the test."""
    from serving.core.config import get_settings
    from welfare.criteria import get_welfare_config

    yield default_configs_elsewhere(tmp_path, monkeypatch)
    get_settings.cache_clear()
    get_welfare_config.cache_clear()


def _execute(url: str, statement: str, **values: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement), values)
    finally:
        engine.dispose()


@pytest.fixture
def demo(tmp_path: Path, default_data: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A demo in FOLDER whose accounts exist and whose audit head lost its MAC and names a hash
    the log's last entry does not have (no sealing may seal it; the next append records it);
    `shanyraq demo` runs on it without building models (tmp_path/photo-model and
    tmp_path/fusion, none made here). Its settings file, as the demo writes it, and its
    database URL."""
    paths = DemoPaths(model_dir=tmp_path / "photo-model", fusion_root=tmp_path / "fusion",
                      fusion_model=FUSION, data_dir=tmp_path / FOLDER)  # fmt: skip
    monkeypatch.setattr(demo_build, "DemoPaths", lambda: paths)
    monkeypatch.setattr(demo_build, "ensure_models", lambda _: None)
    settings, config = demo_settings(paths)
    _create_accounts(settings)
    enabled = run_cli("users", "enable", "admin", "--config", config)  # an entry in the log
    assert enabled.exit_code == 0, enabled.output
    url = settings.resolved_database_url
    _execute(url, "UPDATE audit_head SET mac = NULL, hash = :h", h="0" * 64)
    return config.resolve(), url


def _region_gone(tmp_path: Path) -> None:
    """The first demo region taken out of the configs' regions."""
    from welfare.criteria import get_welfare_config

    welfare = tmp_path / "default-configs" / "welfare.yaml"
    data = yaml.safe_load(welfare.read_text(encoding="utf-8"))
    data["regions"].remove(demo_regions()[0])
    welfare.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    get_welfare_config.cache_clear()


def _told_verifies(caplog: pytest.LogCaptureFixture, *, sealings: int) -> list[list[str]]:
    """The `audit verify` arguments that `sealings` sealings which left the head unsealed, and
    the append that recorded it, told."""
    unsealed = logged_lines(caplog, "left unsealed")
    assert len(unsealed) == sealings, unsealed
    (recorded,) = logged_lines(caplog, "recorded in the audit log before this entry")
    return [verify for said in [*unsealed, recorded] for verify in told(said, "audit verify")]


def test_a_demo_start_that_disables_a_gone_region_s_accounts_tells_its_verify(
    tmp_path: Path, default_data: Path, demo: tuple[Path, str], caplog: pytest.LogCaptureFixture
) -> None:
    config, _ = demo
    (tmp_path / FOLDER / SEED_MARKER).write_text("families=6 photos=0 seed=0\n")  # seeded
    _region_gone(tmp_path)

    with caplog.at_level(logging.WARNING, logger="serving"):
        started = run_cli("demo", "--no-serve")
    assert started.exit_code == 0, started.output
    assert logged_lines(caplog, "disabled (kept for the audit)")  # the append that records the head
    verifies = _told_verifies(caplog, sealings=1)  # the demo's migration
    assert len(verifies) == 2
    for verify in verifies:
        verifies_the_site(verify, config, default_data)


def test_a_demo_seeding_tells_its_verify(
    tmp_path: Path, default_data: Path, demo: tuple[Path, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Not seeded yet: the demo's migration and its seeding app's start seal, and the seeding's
    first sign-in (refused: the account disabled) records the head."""
    from shanyraq.taxonomy import get_taxonomy
    from tests.serving.helpers import small_fusion_model
    from tests.vision.engine_fixtures import make_artifact

    make_artifact(tmp_path / "photo-model", get_taxonomy(), seed=3)  # the models it serves
    small_fusion_model(tmp_path / "fusion", FUSION)
    inspector = f"inspector.{demo_regions()[0].split('_')[0]}"
    config, url = demo
    _execute(url, "UPDATE users SET active = 0 WHERE username = :u", u=inspector)

    with caplog.at_level(logging.WARNING, logger="serving"):
        started = run_cli("demo", "--no-serve", "--families", "6")
    assert started.exit_code != 0 and "cannot sign in" in str(started.exception), started.output
    verifies = _told_verifies(caplog, sealings=2)
    assert len(verifies) == 3
    for verify in verifies:
        verifies_the_site(verify, config, default_data)
