"""A model's metrics written by hand, as `welfare train-engine` records them, and the
train-engine command a refusal words from them, read as a shell splits it and parsed as
welfare/cli.py parses it."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typer.core import TyperGroup
from typer.main import get_command

from tests.welfare.engine_study_helpers import SEED
from welfare.cli import app
from welfare.retrain_words import train_engine_again

# A command a text names, `shanyraq welfare COMMAND [options]`, COMMAND formatted in.
NAMED_AS = r"`shanyraq welfare {}([^`]*)`"


@dataclass(frozen=True)
class Recorded:
    """What a command is worded from: a model's metrics, written by hand."""

    metrics: dict[str, Any] = field(default_factory=dict)


def engine_metrics(**data: object) -> dict[str, Any]:
    """Metrics as `welfare train-engine` records them, with the data values `data`."""
    recorded = {"n": 300, "seed": SEED, "vision_model": "vision-abc", "size": 64}
    return {"data": {**recorded, **data}}


def command_args(text: str, command: str = "train-engine") -> list[str]:
    """The arguments of the one `shanyraq welfare COMMAND ...` that `text` names, as a shell
    splits them."""
    (args,) = re.findall(NAMED_AS.format(command), text)
    return shlex.split(args)


def parsed(args: list[str], command: str = "train-engine") -> dict[str, Any]:
    """The options `shanyraq welfare COMMAND ARGS` runs with, as welfare/cli.py parses them (it
    raises on any it refuses)."""
    group = get_command(app)
    assert isinstance(group, TyperGroup)
    return dict(group.commands[command].make_context(command, list(args)).params)


def told(**data: object) -> tuple[str, dict[str, Any]]:
    """The train-engine command worded for an engine model recording `data`, and its options
    as parsed."""
    text = train_engine_again(Path("own"), Recorded(engine_metrics(**data)))
    return text, parsed(command_args(text))
