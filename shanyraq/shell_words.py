"""The arguments of a command a refusal, report or CLI line tells the user to run, each as one
word of a shell command: quoted where a shell would otherwise split, end or expand it (a space,
a quote, `$`), left as it is otherwise, so a plain folder reads as given. Every told command
(welfare's, the service's, training's) quotes its folders and other given arguments here, so
that, copied to a shell, it runs as told.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable


def word(value: object) -> str:
    """`value` as one word of a shell command: quoted where it needs it (a space, say)."""
    return shlex.quote(str(value))


def words(values: Iterable[object]) -> str:
    """`values` as words of a shell command, each quoted where it needs it, a space between."""
    return " ".join(word(value) for value in values)
