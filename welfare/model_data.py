"""What a fusion model's metrics record of the data it was trained on, read one way for every
command a refusal names (welfare/retrain_words.py, welfare/train_words.py): the data (n, seed)
as whole numbers (`recorded_data`), and whether it was saved only because --keep-meaningless
allowed it (`kept_meaningless`, `keep_option`). A value recorded otherwise (a string, a
fraction, a truth value, n not positive, a negative seed) is not given to a command, whose
option takes a whole number: the command says, after it, what to add (`unrecorded_data`,
`said_after`).

Every other whole number a command takes from what a model records (the subset of training
families an engine model was trained on, `subset_options`; its render size) is taken only as its
option takes it, by welfare/cli.py's own type and range for that option (`option_value`); one not
recorded so is left out and said after the command, in the same words (`unrecorded`), as is the
folder to keep a model not read from one in (`no_folder`).

Split from welfare/retrain_words.py, so that it and welfare/train_words.py, which imports it,
read the data alike without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Protocol, TypeGuard

import typer
from typer.core import TyperCommand, TyperGroup

from welfare.criteria import MIN_RECIPE_FAMILIES

# How `welfare train` and `train-engine` are told to keep models they judge meaningless.
KEEP_MEANINGLESS = "--keep-meaningless"
# The key of metrics["data"] saying the model was saved only because KEEP_MEANINGLESS was given.
MEANINGLESS = "meaningless"
# How each note said after a command begins (`said_after`).
NOTE = ", "


class Recorded(Protocol):
    """What a command is worded from: the metrics a model's fusion.json records (a FusionMeta, or
    what is left of a fusion.json that cannot be read whole)."""

    @property
    def metrics(self) -> Mapping[str, Any]: ...


def recorded(metrics: object) -> Mapping[str, Any]:
    """The training data a model's `metrics` record (their `data`), {} where they record none
    as a mapping."""
    data = metrics.get("data") if isinstance(metrics, Mapping) else None
    return data if isinstance(data, Mapping) else {}


def recorded_data(metrics: object) -> tuple[int | None, int | None]:
    """The (n, seed) of the data `metrics` record (their `data`), each None where it does not
    record it as a whole number (n a positive one, seed not negative): a command's --n and
    --seed take no other."""
    data = recorded(metrics)
    n, seed = data.get("n"), data.get("seed")
    n_taken = n if _whole(n) and n > 0 else None
    return n_taken, (seed if _whole(seed) and seed >= 0 else None)


def recorded_pair(metrics: object) -> tuple[int, int] | None:
    """The (n, seed) of the data `metrics` record, both as `recorded_data` takes them; None
    where either is not recorded so."""
    n, seed = recorded_data(metrics)
    return None if n is None or seed is None else (n, seed)


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def kept_meaningless(metrics: object) -> bool:
    """Whether the model whose fusion.json records `metrics` was saved only because
    --keep-meaningless allowed it (trained on fewer than MIN_RECIPE_FAMILIES families, or a head
    learned nothing), as its `data` record it; for one that does not record it, whether its data
    are fewer families than that (`recorded_data`)."""
    data = recorded(metrics)
    if isinstance(data.get(MEANINGLESS), bool):
        return bool(data[MEANINGLESS])
    n, _ = recorded_data(metrics)
    return n is not None and n < MIN_RECIPE_FAMILIES


def keep_option(n: int, metas: Iterable[Recorded] = (), *, asked: bool = False) -> str:
    """The option --keep-meaningless (with a space before it) for a command that trains the
    models of `metas` again on data of `n` families, when it needs it or is `asked`; else ""."""
    needed = asked or n < MIN_RECIPE_FAMILIES or any(kept_meaningless(m.metrics) for m in metas)
    return f" {KEEP_MEANINGLESS}" if needed else ""


def said_after(*parts: str) -> str:
    """The notes `parts` (each "with ...", with or without the ", " that begins a note, or ""),
    said after a command: ", with ..." for the first, ", and with ..." for each after it."""
    said = [note for part in parts if (note := part.removeprefix(NOTE))]
    return "".join(f"{NOTE}{'' if i == 0 else 'and '}{note}" for i, note in enumerate(said))


def unrecorded_data(n: object, seed: object) -> str:
    """What to add to a command whose model records no data (n, seed): left out, the command
    trains on the recipe's, which need not be the data the model was trained on."""
    missing = [name for name, left_out in (("--n", not n), ("--seed", seed is None)) if left_out]
    return unrecorded(missing, "the data it was trained on", "the recipe's")


def no_folder(
    out: Path | None, *, keep: str = "the folder to keep it in", command: str = "train-engine"
) -> str:
    """What to add to a `command` command for a model not read from a folder (`out` None): the
    model records every option but the folder it is kept in (`keep`, what --out is)."""
    if out is not None:
        return ""
    return (
        f", with --out {keep} and --overwrite where a model is there (the model was not read "
        f"from a folder; {command}'s default --out where left out)"
    )


def unrecorded(options: Sequence[str], of: str, default: str) -> str:
    """What to add to a command that leaves out `options`, of `of` (what the model was trained
    on), as the model does not record them as the options take them: left out, the command runs
    with `default`, which need not be what the model was trained with; "" for no option."""
    if not options:
        return ""
    return (
        f", with {' and '.join(options)} of {of}, which the model does not record ({default} "
        "where left out)"
    )


def option_value(command: str, option: str, value: object) -> int | None:
    """`value` where `shanyraq welfare COMMAND`'s whole-number `option` takes it as recorded: a
    whole number (no string, fraction or truth value, which it would refuse or misread) that
    welfare/cli.py parses as the same number, within the option's range; else None."""
    if not _whole(value):
        return None
    parser = _command(command)
    (name,) = [param.name for param in parser.params if option in param.opts]
    try:
        context = parser.make_context(command, [option, str(value)])
    except typer.TyperException:  # out of the option's range
        return None
    return value if context.params.get(str(name)) == value else None


@cache
def _command(name: str) -> TyperCommand:
    """The `shanyraq welfare NAME` command as welfare/cli.py builds it, options and all."""
    from typer.main import get_command

    from welfare.cli import app  # it imports the modules that word its refusals

    group = get_command(app)
    command = group.commands[name] if isinstance(group, TyperGroup) else None
    if not isinstance(command, TyperCommand):
        raise LookupError(f"welfare/cli.py has no command {name}")
    return command


def subset_options(data: Mapping[str, Any], command: str = "train-engine") -> tuple[str, str]:
    """The options --families and --subset-seed (with a space before each) that draw the subset
    of training families an engine model records in its `data` (`train_families`, drawn with
    `subset_seed`), each where `command` takes it as recorded (`option_value`), and what to add
    for one it does not: left out, the command trains on every training family, or draws them
    with subset seed 0. "" for both where no subset is recorded (`subset_seed` None: the model
    was trained on every family of its data's training split)."""
    if data.get("subset_seed") is None:
        return "", ""
    given = {
        option: option_value(command, option, data.get(key))
        for option, key in (("--families", "train_families"), ("--subset-seed", "subset_seed"))
    }
    options = "".join(f" {option} {value}" for option, value in given.items() if value is not None)
    missing = [option for option, value in given.items() if value is None]
    of = "the subset of training families it was trained on"
    return options, unrecorded(missing, of, f"{command}'s default")
