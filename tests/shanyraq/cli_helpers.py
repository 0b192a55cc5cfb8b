"""Running the `shanyraq` entry point and its help in-process for the CLI tests."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from shanyraq import cli
from shanyraq.cli import build_app


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["shanyraq", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    code = exit_info.value.code
    captured = capsys.readouterr()
    return (code if isinstance(code, int) else 1), captured.out, captured.err


WIDTH = 80  # CliRunner's terminal


def command_help(words: list[str]) -> str:
    result = CliRunner().invoke(build_app(), [*words, "--help"], terminal_width=WIDTH)
    assert result.exit_code == 0, (words, result.output)
    return result.output


def run_main_raw_code(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """The `shanyraq` entry point in-process: exit code, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["shanyraq", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err  # type: ignore[return-value]


def run_main_code_err(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """Run the `shanyraq` entry point in-process; its exit code and stderr."""
    monkeypatch.setattr(sys, "argv", ["shanyraq", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err
