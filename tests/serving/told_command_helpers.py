"""Reading a command a refusal or report tells the user: its backquoted `shanyraq ...`
commands as a shell splits them, an option's value, and the options the CLI parses from them."""

from __future__ import annotations

import re
import shlex
from typing import Any

from typer.core import TyperGroup
from typer.main import get_command

from shanyraq.cli import build_app


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
