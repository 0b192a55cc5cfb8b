"""Reading a command a refusal or report tells the user: its backquoted `shanyraq ...`
commands as a shell splits them, an option's value, and the options the CLI parses from them."""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.core import TyperGroup
from typer.main import get_command

from shanyraq.cli import build_app
from tests.serving.helpers import ROOT


def told(text: str, command: str) -> list[list[str]]:
    """The arguments of each backquoted `shanyraq COMMAND ...` that `text` names, as a shell
    splits them (COMMAND's own words left out)."""
    named = re.findall(rf"`shanyraq {command}((?: [^`]*)?)`", text)
    return [shlex.split(args) for args in named]


def the_args(text: str, command: str) -> list[str]:
    """The arguments of the one `shanyraq COMMAND ...` that `text` names."""
    (args,) = told(text, command)
    return args


def option(args: list[str], name: str) -> str:
    """The value given to option `name` in `args`."""
    return args[args.index(name) + 1]


def parsed(args: list[str], *command: str) -> dict[str, Any]:
    """The options `shanyraq COMMAND ARGS` runs with, as the CLI parses them (it raises on any
    it refuses)."""
    group = get_command(build_app())
    for name in command[:-1]:
        assert isinstance(group, TyperGroup)
        group = group.commands[name]
    assert isinstance(group, TyperGroup)
    return dict(group.commands[command[-1]].make_context(command[-1], list(args)).params)


def default_configs_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the default configs (SHANYRAQ_CONFIGS_DIR, no SHANYRAQ_SERVING__ overrides) at a
    copy whose data folder is one of `tmp_path`'s own, which no command told with a site's
    --config may make; that folder (not made here). The caller clears the settings' cache
    when done."""
    from serving.core.config import get_settings

    for name in [n for n in os.environ if n.startswith("SHANYRAQ_SERVING__")]:
        monkeypatch.delenv(name)
    defaults = Path(shutil.copytree(ROOT / "configs", tmp_path / "default-configs"))
    shipped = yaml.safe_load((defaults / "serving.yaml").read_text(encoding="utf-8"))
    shipped |= {"data_dir": str(tmp_path / "default-data"), "database_url": ""}
    (defaults / "serving.yaml").write_text(yaml.safe_dump(shipped), encoding="utf-8")
    monkeypatch.setenv("SHANYRAQ_CONFIGS_DIR", str(defaults))
    get_settings.cache_clear()
    return tmp_path / "default-data"


def default_data_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """For a fixture to yield from: the data folder of default configs kept apart
    (`default_configs_elsewhere`), the settings' cache cleared once the test is done."""
    from serving.core.config import get_settings

    yield default_configs_elsewhere(tmp_path, monkeypatch)
    get_settings.cache_clear()


def verifies_the_site(verify: list[str], config: Path, default_data: Path) -> None:
    """The told `audit verify` arguments name the site's --config, and run, check its log
    (whose head problem they find), not the default configs' database."""
    from tests.serving.cli_helpers import run_cli

    assert verify == ["--config", str(config)]
    verified = run_cli("audit", "verify", *verify)
    assert verified.exit_code == 1, verified.output  # the site's log, its problem found
    assert "the head" in verified.output, verified.output
    assert not default_data.exists()


def logged_lines(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    """The captured log lines holding `words`."""
    return [r.getMessage() for r in caplog.records if words in r.getMessage()]
