"""The arguments of a command a refusal, report or CLI line tells the user to run, each as one
word of a shell command: quoted where a shell would otherwise split, end or expand it (a space,
a quote, `$`), left as it is otherwise, so a plain folder reads as given. Every told command
(welfare's, the service's, training's) quotes its folders and other given arguments here, so
that, copied to a shell, it runs as told; a service command's carries the --config the command
telling it was given (`config_option`), so that it works on the same database.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path


def word(value: object) -> str:
    """`value` as one word of a shell command: quoted where it needs it (a space, say)."""
    return shlex.quote(str(value))


def words(values: Iterable[object]) -> str:
    """`values` as words of a shell command, each quoted where it needs it, a space between."""
    return " ".join(word(value) for value in values)


def config_option(config: Path | None) -> str:
    """The --config a command told to the user carries (" --config FILE", FILE one word of it
    as a shell reads it; "" where the command telling it was given none), so it works on the
    database the telling command did, not on the default configs' one."""
    return f" --config {word(config)}" if config is not None else ""
