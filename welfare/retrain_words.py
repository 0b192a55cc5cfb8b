"""The full commands a fusion-model refusal names to train a folder's models again, as they run.

`welfare train --model` takes the registered models' names, so a model is named by the one its
fusion.json records (`FusionMeta.name`, the model it was built as), not by its folder's: a folder
renamed (e.g. lgbm_fused_2024) is one `welfare train` never writes, since it saves each model as
--out/<its name>, so the refusal says to move it out of --out before the command (`renamed`),
which keeps it as it is and trains the model it holds anew under its own name. One built as a
model this version no longer registers (`unregistered`) is named by no command, as `welfare
train` refuses its name: the refusal says so, with the models it trains (`registered_models`).

`--keep-meaningless` is carried (`keep_option`) when the data are fewer families than a recipe may
ask for (`welfare train` and `train-engine` refuse them without it), or when a model named was
saved only because it was given, as its metrics' `data` record (`MEANINGLESS`, which `welfare
train` and `train-engine` record; a model saved before it was recorded, by its data's count).

A model `welfare train-engine` built (`engine_built`) is never trained by `welfare train` and never
compared from a folder of `welfare train`'s models: a refusal sends each to a folder of its own
(`own_folder`, under the folder's engine/, which no folder of models reads) and names the command
to run there (`to_own_folders`): `train-engine` with every option the model records (data, vision
model's folder, render size, subset of training families: `train_engine_again`), or
`evaluate-real` with the vision model and render size it was trained with and as many test
families as its data's test split holds (`evaluate_real_again`). Refusals word one such model or
several alike (`EngineModels`, from `engine_models`); one loaded on its own is trained again where
it is (`build_again`, as is one `welfare train` built: welfare/train_words.py). One built in
memory records every option but the folder it is kept in: the command gives them all, and says
to add --out. What a model does not record (its data, where it was saved before it recorded
them) is said after the command, never left out without a word: the command's default is the
recipe's, not necessarily what the model was trained on.

How an engine model's photos were scored (its vision model's folder and render size) is read from
what it records by welfare/engine_record.py; its data (n, seed), and whether it was kept only with
--keep-meaningless, by welfare/model_data.py, as for a model `welfare train` built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from shanyraq.shell_words import word
from welfare.criteria import MIN_RECIPE_FAMILIES
from welfare.engine_record import scored_as
from welfare.model_data import (
    Recorded,
    keep_option,
    no_folder,
    recorded,
    recorded_data,
    said_after,
    subset_options,
    unrecorded,
    unrecorded_data,
)
from welfare.model_folder import TRAIN, TRAIN_ENGINE, FusionMeta, retrain_command

EVALUATE_REAL = "shanyraq welfare evaluate-real"
# evaluate-real's default --families (welfare/cli.py): the test families it renders and scores.
STUDY_FAMILIES = 400
# The folder, in a folder of models, where a refusal sends each engine model to a folder of its own.
OWN = "engine"


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
    those of `metas` (by their folder's name in `out`) again into `out` on data (n, seed). One
    built as a model no longer registered is not named, as `welfare train` refuses its name: what
    to do about it is said by `renamed`, which callers add."""
    gone = unregistered(metas)
    names = dict.fromkeys([*first, *(m.name for f, m in metas.items() if f not in gone)])
    models = "".join(f" --model {word(name)}" for name in names)
    keep = keep_option(n, metas.values(), asked=keep_meaningless)
    return f"`{TRAIN} --out {word(out)} --n {n} --seed {seed}{models} --overwrite{keep}`"


def renamed(out: Path, metas: Mapping[str, FusionMeta]) -> str:
    """What to do first, before training the models of `metas` (by their folder's name in `out`)
    again, about those in folders not named as the model they hold or built as a model no
    longer registered: "; first move ..." (`move_first`); "" when there is none."""
    said = move_first(out, metas)
    return f"; {said}" if said else ""


def move_first(out: Path, metas: Mapping[str, FusionMeta]) -> str:
    """ "first move X out of OUT: ..." for the models of `metas` (by their folder's name in `out`)
    that `welfare train` would leave as they are, and refuse to train beside: those in folders
    not named as the model they hold, which it never writes, and those built as a model it no
    longer trains (`unregistered`); "" when there is none."""
    gone = unregistered(metas)
    moved = {f: meta.name for f, meta in metas.items() if f != meta.name and f not in gone}
    both, said = bool(moved and gone), []
    if moved:
        said.append(
            f"{_holds(moved, named=both)} {', '.join(moved.values())} in "
            f"{'a folder' if len(moved) == 1 else 'folders'} of another name, which `welfare "
            f"train` never writes (it saves each model as {out}/<its name>)"
        )
    if gone:
        said.append(
            f"{_holds(gone, named=both)} {'a model' if len(gone) == 1 else 'models'} built as "
            f"{', '.join(map(str, gone.values()))}, which this version no longer trains "
            f"({registered_models()})"
        )
    if not said:
        return ""
    first = [folder for folder in metas if folder in moved or folder in gone]
    return f"first move {', '.join(first)} out of {out}: {'; '.join(said)}"


def _holds(folders: Mapping[str, str], *, named: bool) -> str:
    """ "it holds", "they hold", or, `named`, "X holds", "X, Y hold": what `folders` hold."""
    one = len(folders) == 1
    whose = ", ".join(folders) if named else "it" if one else "they"
    return f"{whose} {'holds' if one else 'hold'}"


def unregistered(metas: Mapping[str, FusionMeta]) -> dict[str, str]:
    """The models of `metas` (by their folder's name) built as a model this version no longer
    registers (`welfare.fusion.list_models`), with the name each was built as: `welfare train
    --model` refuses that name, so no command builds it again."""
    from welfare.fusion import list_models  # it imports this module

    return {f: meta.name for f, meta in metas.items() if meta.name not in list_models()}


def registered_models() -> str:
    """The models `welfare train` trains, as said beside one it no longer trains."""
    from welfare.fusion import list_models  # it imports this module

    return f"`{TRAIN}` trains {', '.join(list_models())}, the names its --model takes"


def engine_built(metas: Mapping[str, FusionMeta]) -> list[str]:
    """The models of `metas` (by their folder's name) that `welfare train-engine` built, in order:
    those whose training data name the vision model that scored their photos (`retrain_command`)."""
    return [name for name, meta in metas.items() if retrain_command(meta.metrics) == TRAIN_ENGINE]


@dataclass(frozen=True)
class EngineModels:
    """Models of a folder that `welfare train-engine` built, as a refusal tells of them: "X was
    built ... move it ... its training data" for one, "X, Y were built ... move each ... their
    training data" for several ("each ... a folder of its own" either way); and `moves`, where
    each goes and the command to run on it there (`to_own_folders`). False when there is none."""

    models: tuple[str, ...]
    moves: str

    def __bool__(self) -> bool:
        return bool(self.models)

    def __contains__(self, name: object) -> bool:
        return name in self.models

    @property
    def names(self) -> str:
        return ", ".join(self.models)

    @property
    def was(self) -> str:
        return "was" if len(self.models) == 1 else "were"

    @property
    def it(self) -> str:
        return "it" if len(self.models) == 1 else "each"

    @property
    def their(self) -> str:
        return "its" if len(self.models) == 1 else "their"


def engine_models(
    folder: Path, metas: Mapping[str, FusionMeta], command: Callable[[Path, FusionMeta], str]
) -> EngineModels:
    """The models of `metas` (by their folder's name in `folder`) that `welfare train-engine`
    built (`engine_built`), each sent to a folder of its own with `command(own, meta)` to run
    there."""
    engine = engine_built(metas)
    moves = to_own_folders(folder, {name: metas[name] for name in engine}, command)
    return EngineModels(tuple(engine), moves)


def own_folder(folder: Path, name: str) -> Path:
    """A folder of its own for the engine model in folder/name: folder/engine/<name> (beside the
    models, as train-engine's default --out is beside `welfare train`'s), or <name>-2, -3, ...
    where that is taken. `model_folders(folder)` never reads it."""
    for k in count(1):
        own = Path(folder) / OWN / (name if k == 1 else f"{name}-{k}")
        if not own.exists():
            return own
    raise AssertionError("unreachable")


def to_own_folders(
    folder: Path, metas: Mapping[str, FusionMeta], command: Callable[[Path, FusionMeta], str]
) -> str:
    """For each engine model of `metas` (by its folder's name in `folder`), where to move it and
    the command (`command(own, meta)`) to run on it there: "move X to OWN, then `...`"."""
    said = []
    for name, meta in metas.items():
        own = own_folder(folder, name)
        said.append(f"move {name} to {own}, then {command(own, meta)}")
    return "; ".join(said)


def train_engine_again(
    out: Path | None,
    meta: Recorded,
    *,
    n: int | None = None,
    seed: int | None = None,
    size: int | None = None,
    vision_model: str | None = None,
    vision_dir: Path | None = None,
    overwrite: bool = True,
) -> str:
    """The `welfare train-engine` command, in backticks, that trains the engine model of `meta`
    again into `out` with every option it records, as it runs: on data (n, seed), at render
    `size` and from the scores of the vision model of `vision_dir` or `vision_model` where
    given, else as it was trained; on the same subset of training families; with --overwrite
    (`out` holds a model) and --keep-meaningless where needed. What the model does not record
    as the option takes it (the vision model's folder, where none of it holds that model; the
    render size, the subset of training families, the data it was trained on) is said after, as
    is, for `out` None (a model not read from a folder), where to keep it."""
    data, (recorded_n, recorded_seed) = recorded(meta.metrics), recorded_data(meta.metrics)
    n = recorded_n if n is None else n
    seed = recorded_seed if seed is None else seed
    scored, note = scored_as(data, size=size, vision_model=vision_model, vision_dir=vision_dir)
    subset, no_subset = subset_options(data)
    command = f"{TRAIN_ENGINE}{f' --n {n}' if n else ''}"
    command += "" if seed is None else f" --seed {seed}"
    command += f"{'' if out is None else f' --out {word(out)}'}{scored}{subset}"
    command += " --overwrite" if overwrite and out is not None else ""
    keep = keep_option(n or MIN_RECIPE_FAMILIES, [meta])
    notes = said_after(note, no_subset, unrecorded_data(n, seed), no_folder(out))
    return f"`{command}{keep}`{notes}"


def build_again(folder: Path | None, meta: FusionMeta) -> str:
    """The command, in backticks, that builds the model of `meta`, saved in `folder`, again
    where it is, with every option it records: `welfare train-engine` for one that command
    built (`train_engine_again`), else `welfare train` (`train_words.train_model_again`); for
    `folder` None, a model not read from a folder, without --out and saying to add it."""
    if retrain_command(meta.metrics) == TRAIN_ENGINE:
        return train_engine_again(folder, meta)
    from welfare.train_words import train_model_again  # it imports this module

    return train_model_again(folder, meta)


def evaluate_real_again(models: Path, own: Path, meta: FusionMeta, *, n: int | None = None) -> str:
    """The `welfare evaluate-real` command, in backticks, that compares the engine model of
    `meta`, in `own`, with the models of `models`, scoring photos as it was trained on, on as
    many test families as its data's test split holds (`study_families`; of `n` families where
    it is trained again on them), or saying to give them where it does not record that split."""
    scored, note = scored_as(
        recorded(meta.metrics), size=None, vision_model=None, command="evaluate-real"
    )
    families = study_families(meta, n=n)
    command = f"{EVALUATE_REAL} --model {word(models)} --engine-model {word(own)}{scored}"
    split = "the test split of the data it was trained on"
    no_split = (
        ""
        if families
        else unrecorded(["--families"], split, f"evaluate-real's default, {STUDY_FAMILIES},")
    )
    return f"`{command}{f' --families {families}' if families else ''}`{said_after(note, no_split)}"


def study_families(meta: FusionMeta, *, n: int | None = None) -> int | None:
    """How many test families evaluate-real may render and score for the engine model of `meta`
    (its --families): its data's test split (of `n` families where given: trained again on
    them), as the split it records draws it (its recipe's for a model saved before it recorded
    its own), at most evaluate-real's default; None where it records no data. The default alone
    is refused on a split smaller than that."""
    from welfare.dataset import split_sizes  # it imports welfare.fusion, which imports this

    n = recorded_data(meta.metrics)[0] if n is None else n
    fraction = recorded(meta.metrics).get("test_fraction")
    if fraction is None:
        fraction = (meta.recipe or {}).get("test_fraction")
    if not (isinstance(n, int) and n > 0 and isinstance(fraction, float) and 0 < fraction < 1):
        return None
    return min(split_sizes(n, test_fraction=fraction)[1], STUDY_FAMILIES)


def mixed_data(
    folder: Path,
    metas: Mapping[str, FusionMeta],
    sources: Mapping[str, tuple[int, int]],
    most: tuple[int, int],
) -> str:
    """Why the models of `folder` (`metas`, trained on the data `sources`) are refused, and what
    to do: keep those `welfare train-engine` built in a folder of their own, trained again there
    on the data `most` of the others were trained on, train those `welfare train` built again on
    that data, then compare the former with the latter (`compare_engine`)."""
    by_data: dict[tuple[int, int], list[str]] = {}
    for name, data in sources.items():
        by_data.setdefault(data, []).append(name)
    said = "; ".join(
        f"{', '.join(names)} on data ({n} families, seed {seed})"
        for (n, seed), names in by_data.items()
    )
    n, seed = most
    engine = engine_models(
        folder, metas, lambda own, meta: train_engine_again(own, meta, n=n, seed=seed)
    )
    again = {
        name: metas[name] for name, data in sources.items() if data != most and name not in engine
    }
    advice = []
    if engine:  # moved out first: `welfare train` refuses to train beside them
        advice.append(
            f"{engine.names} {engine.was} built by `{TRAIN_ENGINE}`, which `{TRAIN}` does not "
            f"train: keep {engine.it} in a folder of its own, trained on data ({n} families, "
            f"seed {seed}) ({engine.moves})"
        )
    if again:
        advice.append(
            f"train {', '.join(again)} again on data ({n} families, seed {seed}), as the others "
            f"({train_again(folder, again, n=n, seed=seed)}, or leave --model out to train "
            f"all{renamed(folder, again)})"
        )
    if engine:
        advice.append(compare_engine(folder, metas, engine, again, n=n, seed=seed))
    return (
        f"{folder}: its models were trained on different data ({said}), and they are compared "
        f"on the test families of one: {'; '.join(advice)}"
    )


def compare_engine(
    folder: Path,
    metas: Mapping[str, FusionMeta],
    engine: EngineModels,
    again: Mapping[str, FusionMeta],
    *,
    n: int,
    seed: int,
    fused: str | None = None,
) -> str:
    """The last step for the engine models of `folder` (`engine`, of `metas`) once each is in a
    folder of its own (`own_folder`), trained again on data (n, seed): compare each there with
    the models of `folder` by `welfare evaluate-real` (`evaluate_real_again`). That needs the
    fused model (`fused`, or the recipe's default_model its models record) and its tabular
    counterpart in `folder`, so those it will not hold (of its models but the engine ones, and
    those of `again` trained again under their own names) are trained there first."""
    commands = "; ".join(
        evaluate_real_again(folder, own_folder(folder, name), metas[name], n=n)
        for name in engine.models
    )
    recipes = [meta.recipe for meta in metas.values() if isinstance(meta.recipe, Mapping)]
    fused = fused or next((str(r["default_model"]) for r in recipes if "default_model" in r), None)
    held = {name for name in metas if name not in engine} | {m.name for m in again.values()}
    pair = (fused, fused.replace("_fused", "_tabular")) if fused else ()
    missing = [name for name in pair if name not in held]
    first = ""
    if missing:
        command = train_again(folder, {}, n=n, seed=seed, first=missing)
        first = (
            f"train {', '.join(missing)} into {folder} on the same data ({command}), which "
            f"`welfare evaluate-real` compares {engine.it} with, and "
        )
    return f"then {first}compare {engine.it} with the models of {folder}: {commands}"
