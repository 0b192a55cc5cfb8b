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
command, never left out without a word. A model built as one this version no longer registers
is told so, with the models `welfare train` trains (`no_longer_trained`): no command builds it.
"""

from __future__ import annotations

from pathlib import Path

from shanyraq.shell_words import word
from welfare.criteria import MIN_RECIPE_FAMILIES
from welfare.model_data import keep_option, no_folder, recorded_data, said_after, unrecorded_data
from welfare.model_folder import TRAIN, FusionMeta
from welfare.retrain_words import move_first, registered_models, unregistered


def train_model_again(folder: Path | None, meta: FusionMeta) -> str:
    """The `welfare train` command, in backticks, that builds the model of `meta`, saved in
    `folder` (None: not read from a folder), again there: --model its name, on the data (n,
    seed) it records, with --keep-meaningless where it was kept only with it; --out the folder
    above `folder` and --overwrite, after moving `folder` out where it is not named as the model.
    What the model does not record is said after. One built as a model this version no longer
    trains is told so (`no_longer_trained`): `welfare train` refuses --model with its name."""
    n, seed = recorded_data(meta.metrics)
    if unregistered({meta.name: meta}):
        return no_longer_trained(meta, n, seed)
    command = TRAIN if folder is None else f"{TRAIN} --out {word(Path(folder).parent)}"
    command += "" if n is None else f" --n {n}"
    command += "" if seed is None else f" --seed {seed}"
    command += f" --model {word(meta.name)}{'' if folder is None else ' --overwrite'}"
    command += keep_option(MIN_RECIPE_FAMILIES if n is None else n, [meta])
    moved = "" if folder is None else move_first(Path(folder).parent, {Path(folder).name: meta})
    where = f"the folder of models to keep it in (it is saved as --out/{meta.name})"
    return f"`{command}`{f' ({moved})' if moved else ''}" + said_after(
        unrecorded_data(n, seed), no_folder(folder, keep=where, command="`welfare train`")
    )


def no_longer_trained(meta: FusionMeta, n: int | None, seed: int | None) -> str:
    """What to do about the model of `meta`, trained on data (n, seed), built as a model that is
    no longer registered (`retrain_words.unregistered`): no command builds it again, as `welfare
    train --model` takes only the registered models' names; one of them is trained in its stead,
    on the data it records, with --keep-meaningless where it was kept only with it."""
    options = f"{'' if n is None else f' --n {n}'}{'' if seed is None else f' --seed {seed}'}"
    options += keep_option(MIN_RECIPE_FAMILIES if n is None else n, [meta])
    said = (
        f"no command of this version: it was built as {meta.name}, which this version no longer "
        f"trains ({registered_models()}); train one of those in its stead"
        f"{f', with{options} as it was trained' if options else ''}"
    )
    return said + said_after(unrecorded_data(n, seed))
