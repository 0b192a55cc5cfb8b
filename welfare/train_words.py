"""The full `welfare train` command a refusal names to build one model that command built again
where it is (`train_model_again`), as it runs.

Run bare, `welfare train` trains every registered model on the recipe's data into
artifacts/welfare: maybe other data than the model's, and never where the refused one is. The
model records what it was built as (`FusionMeta.name`, its --model) and the data it was trained
on (its metrics' `data`: n and seed, and whether it was kept only with --keep-meaningless), so
the command gives them all. `welfare train` saves each model as --out/<its name>: one read from
a folder is trained again with --out the folder above it and --overwrite, and one in a folder of
another name is moved out of --out first (`retrain_words.move_first`), as `welfare train` never
writes that folder and refuses to train beside models of another basis or data. What the model
does not record (its data; for one not read from a folder, where it is kept) is said after the
command, never left out without a word.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TypeGuard

from welfare.criteria import MIN_RECIPE_FAMILIES
from welfare.model_folder import TRAIN, FusionMeta
from welfare.retrain_words import keep_option, move_first, no_folder, said_after, unrecorded_data


def train_model_again(folder: Path | None, meta: FusionMeta) -> str:
    """The `welfare train` command, in backticks, that builds the model of `meta`, saved in
    `folder` (None: not read from a folder), again there: --model its name, on the data (n,
    seed) it records, with --keep-meaningless where it was kept only with it; --out the folder
    above `folder` and --overwrite, after moving `folder` out where it is not named as the model.
    What the model does not record is said after."""
    n, seed = recorded_data(meta.metrics)
    command = TRAIN if folder is None else f"{TRAIN} --out {Path(folder).parent}"
    command += "" if n is None else f" --n {n}"
    command += "" if seed is None else f" --seed {seed}"
    command += f" --model {meta.name}{'' if folder is None else ' --overwrite'}"
    command += keep_option(MIN_RECIPE_FAMILIES if n is None else n, [meta])
    moved = "" if folder is None else move_first(Path(folder).parent, {Path(folder).name: meta})
    where = f"the folder of models to keep it in (it is saved as --out/{meta.name})"
    return f"`{command}`{f' ({moved})' if moved else ''}" + said_after(
        unrecorded_data(n, seed), no_folder(folder, keep=where, command="`welfare train`")
    )


def recorded_data(metrics: Mapping[str, object]) -> tuple[int | None, int | None]:
    """The (n, seed) of the data `metrics` record, each None where it does not record it as a
    whole number (n a positive one)."""
    data = metrics.get("data")
    data = data if isinstance(data, Mapping) else {}
    n, seed = data.get("n"), data.get("seed")
    return (n if _whole(n) and n > 0 else None), (seed if _whole(seed) else None)


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
