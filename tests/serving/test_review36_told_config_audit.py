"""A command given --config that opens the database to write, and finds an audit head it may
not seal, logs `shanyraq audit verify` with that --config: run as told, it checks the log of
the database the command opened, not the default configs' one.

Before, the line named `shanyraq audit verify` without --config: run as written, it looked
for the default configs' database (refused: database_missing). The site's folder here holds a
space and a quote; the default configs point at a data folder of their own, which no told
command may make. (The service's own appends know no --config: their line reads as before.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from serving.db.session import make_engine
from tests.serving.cli_helpers import SECRET_KEY, run_cli
from tests.serving.helpers import PASSWORD
from tests.serving.told_command_helpers import default_configs_elsewhere, told


@pytest.fixture
def default_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The default configs' data folder (not made)."""
    from serving.core.config import get_settings

    yield default_configs_elsewhere(tmp_path, monkeypatch)
    get_settings.cache_clear()


def test_a_head_left_unsealed_tells_the_verify_of_the_same_database(
    tmp_path: Path, default_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "site o'neil"
    folder.mkdir()
    url = f"sqlite:///{folder / 'data' / 'shanyraq.db'}"
    config = folder / "serving.yaml"
    values = {"data_dir": str(folder / "data"), "database_url": url,
              "audit_anchor_file": str(folder / "anchor.log"), "secret_key": SECRET_KEY,
              "model_dir": "", "fusion_dir": ""}  # fmt: skip
    config.write_text(yaml.safe_dump(values), encoding="utf-8")
    for name in ("amina", "bolat"):  # two entries: the head can be put back one
        added = run_cli("users", "add", name, "--role", "admin", "--config", config,
                        stdin=f"{PASSWORD}\n{PASSWORD}\n")  # fmt: skip
        assert added.exit_code == 0, added.output
    engine = make_engine(url)
    try:  # a head behind the log's last entry, its MAC removed: not to be sealed
        with engine.begin() as connection:
            connection.execute(text("UPDATE audit_head SET mac = NULL, seq = seq - 1"))
    finally:
        engine.dispose()

    with caplog.at_level(logging.WARNING, logger="serving.audit"):
        run_cli("users", "disable", "bolat", "--config", config)
    said = " ".join(r.getMessage() for r in caplog.records if "left unsealed" in r.getMessage())
    (verify,) = told(said, "audit verify")
    assert verify == ["--config", str(config)], said

    verified = run_cli("audit", "verify", *verify)
    assert verified.exit_code == 1, verified.output  # the site's log, its problem found
    assert "the head" in verified.output, verified.output
    assert not default_data.exists()
