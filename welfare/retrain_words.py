"""The full commands a fusion-model refusal names to train a folder's models again, as they run.

`welfare train --model` takes the registered models' names, so a model is named by the one its
fusion.json records (`FusionMeta.name`, the model it was built as), not by its folder's: a folder
renamed (e.g. lgbm_fused_2024) is one `welfare train` never writes, since it saves each model as
--out/<its name>, so the refusal says to move it out of --out before the command (`renamed`),
which keeps it as it is and trains the model it holds anew under its own name.

`--keep-meaningless` is carried (`keep_option`) when the data are fewer families than a recipe may
ask for (`welfare train` and `train-engine` refuse them without it), or when a model named was
saved only because it was given, as its metrics' `data` record (`MEANINGLESS`, which `welfare
train` records; a model saved before it was recorded, or by `train-engine`, by its data's count).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from welfare.criteria import MIN_RECIPE_FAMILIES
from welfare.model_folder import TRAIN, TRAIN_ENGINE, FusionMeta, retrain_command

# How `welfare train` and `train-engine` are told to keep models they judge meaningless.
KEEP_MEANINGLESS = "--keep-meaningless"
# The key of metrics["data"] saying the model was saved only because KEEP_MEANINGLESS was given.
MEANINGLESS = "meaningless"


def kept_meaningless(metrics: object) -> bool:
    """Whether the model whose fusion.json records `metrics` was saved only because
    --keep-meaningless allowed it (trained on fewer than MIN_RECIPE_FAMILIES families, or a head
    learned nothing), as its `data` record it; for one that does not record it, whether its data
    are fewer families than that."""
    data = metrics.get("data") if isinstance(metrics, Mapping) else None
    if not isinstance(data, Mapping):
        return False
    if isinstance(data.get(MEANINGLESS), bool):
        return bool(data[MEANINGLESS])
    n = data.get("n")
    return isinstance(n, int) and n < MIN_RECIPE_FAMILIES


def keep_option(n: int, metas: Iterable[FusionMeta] = (), *, asked: bool = False) -> str:
    """The option --keep-meaningless (with a space before it) for a command that trains the
    models of `metas` again on data of `n` families, when it needs it or is `asked`; else ""."""
    needed = asked or n < MIN_RECIPE_FAMILIES or any(kept_meaningless(m.metrics) for m in metas)
    return f" {KEEP_MEANINGLESS}" if needed else ""


def train_again(
    out: Path,
    metas: Mapping[str, FusionMeta],
    *,
    n: int,
    seed: int,
    first: Sequence[str] = (),
    keep_meaningless: bool = False,
) -> str:
    """The `welfare train` command, in backticks, that trains the registered models `first` and
    those of `metas` (by their folder's name in `out`) again into `out` on data (n, seed)."""
    names = dict.fromkeys([*first, *(meta.name for meta in metas.values())])
    models = "".join(f" --model {name}" for name in names)
    keep = keep_option(n, metas.values(), asked=keep_meaningless)
    return f"`{TRAIN} --out {out} --n {n} --seed {seed}{models} --overwrite{keep}`"


def renamed(out: Path, metas: Mapping[str, FusionMeta]) -> str:
    """What to do first, before training the models of `metas` (by their folder's name in `out`)
    again, about those in folders not named as the model they hold: move them out of `out`, as
    `welfare train` would leave them as they are; "" when there is none."""
    moved = {folder: meta.name for folder, meta in metas.items() if folder != meta.name}
    if not moved:
        return ""
    one = len(moved) == 1
    return (
        f"; first move {', '.join(moved)} out of {out}: {'it holds' if one else 'they hold'} "
        f"{', '.join(moved.values())} in {'a folder' if one else 'folders'} of another name, "
        f"which `welfare train` never writes (it saves each model as {out}/<its name>)"
    )


def train_engine_again(n: int, seed: int, metas: Iterable[FusionMeta] = ()) -> str:
    """The `welfare train-engine` command, in backticks, that trains an engine model of `metas`
    again on data (n, seed) into a folder of its own."""
    return f"`{TRAIN_ENGINE} --out FOLDER --n {n} --seed {seed}{keep_option(n, metas)}`"


def mixed_data(
    folder: Path,
    metas: Mapping[str, FusionMeta],
    sources: Mapping[str, tuple[int, int]],
    most: tuple[int, int],
) -> str:
    """Why the models of `folder` (`metas`, trained on the data `sources`) are refused, and what
    to do: train those `welfare train` built again on the data `most` of them were trained on,
    and keep those `welfare train-engine` built in a folder of their own, on the same data."""
    by_data: dict[tuple[int, int], list[str]] = {}
    for name, data in sources.items():
        by_data.setdefault(data, []).append(name)
    said = "; ".join(
        f"{', '.join(names)} on data ({n} families, seed {seed})"
        for (n, seed), names in by_data.items()
    )
    n, seed = most
    engine = [name for name, meta in metas.items() if retrain_command(meta.metrics) == TRAIN_ENGINE]
    again = {
        name: metas[name] for name, data in sources.items() if data != most and name not in engine
    }
    advice = []
    if again:
        advice.append(
            f"train {', '.join(again)} again on data ({n} families, seed {seed}), as the others "
            f"({train_again(folder, again, n=n, seed=seed)}, or leave --model out to train "
            f"all{renamed(folder, again)})"
        )
    if engine:
        was, it, its = ("was", "it", "its") if len(engine) == 1 else ("were", "each", "its")
        command = train_engine_again(n, seed, (metas[name] for name in engine))
        advice.append(
            f"{', '.join(engine)} {was} built by `{TRAIN_ENGINE}`, which `{TRAIN}` does not "
            f"train: keep {it} in a folder of {its} own, trained on data ({n} families, seed "
            f"{seed}) as {command} trains {it}, and give that folder to `welfare evaluate-real` "
            "as --engine-model"
        )
    return (
        f"{folder}: its models were trained on different data ({said}), and they are compared "
        f"on the test families of one: {'; '.join(advice)}"
    )
