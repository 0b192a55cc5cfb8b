"""The `shanyraq welfare` commands a refusal names, read from its text: each checked to be one
the CLI has (with options it has), and their arguments, split as a shell splits them (a folder
with a space is one quoted word)."""

from __future__ import annotations

import re
import shlex

from typer.core import TyperGroup
from typer.main import get_command

from welfare.cli import app

# Every command a text names, each as `shanyraq welfare COMMAND [options]`.
NAMED = re.compile(r"`shanyraq welfare ([a-z-]+)([^`]*)`")


def commands() -> dict[str, set[str]]:
    """The commands `shanyraq welfare` has (welfare/cli.py), each with its options."""
    group = get_command(app)
    assert isinstance(group, TyperGroup)
    return {
        name: {opt for param in command.params for opt in param.opts}
        for name, command in group.commands.items()
    }


def named(text: str) -> list[str]:
    """The commands `text` names, each checked to be one `shanyraq welfare` has, with options
    it has."""
    known = commands()
    found = NAMED.findall(text)
    for command, args in found:
        assert command in known, (command, sorted(known))
        options = {arg for arg in shlex.split(args) if arg.startswith("--")}
        assert options <= known[command], (command, options - known[command])
    return [command for command, _ in found]


def named_args(text: str, command: str) -> list[str]:
    """The arguments `text` gives `shanyraq welfare COMMAND` (it names it once)."""
    (args,) = [a for c, a in NAMED.findall(text) if c == command]
    return shlex.split(args)


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def every_command(text: str, command: str) -> list[list[str]]:
    """The arguments of each `shanyraq welfare COMMAND ...` that `text` names with some."""
    return [shlex.split(args) for c, args in NAMED.findall(text) if c == command and args]


def the_command(text: str, command: str = "train-engine") -> list[str]:
    """The arguments of the one `shanyraq welfare COMMAND ...` that `text` names with some."""
    (args,) = every_command(text, command)
    return args


def named_with_options(text: str) -> list[str]:
    """The `shanyraq welfare` commands `text` names with options, in order."""
    return [command for command, args in NAMED.findall(text) if args.strip()]
