"""The full commands a fusion-model refusal names to train a folder's models again, as they run.

`welfare train --model` takes the registered models' names, so a model is named by the one its
fusion.json records (`FusionMeta.name`, the model it was built as), not by its folder's: a folder
renamed (e.g. lgbm_fused_2024) is one `welfare train` never writes, since it saves each model as
--out/<its name>, so the refusal says to move it out of --out before the command (`renamed`),
which keeps it as it is and trains the model it holds anew under its own name.

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
what it records by welfare/engine_record.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any, Protocol

from welfare.criteria import MIN_RECIPE_FAMILIES
from welfare.engine_record import VISION_DIR as VISION_DIR  # callers import it here
from welfare.engine_record import scored_as
from welfare.engine_record import trained_render_size as trained_render_size
from welfare.engine_record import trained_vision_model as trained_vision_model
from welfare.model_folder import TRAIN, TRAIN_ENGINE, FusionMeta, retrain_command

EVALUATE_REAL = "shanyraq welfare evaluate-real"
# evaluate-real's default --families (welfare/cli.py): the test families it renders and scores.
STUDY_FAMILIES = 400
# How `welfare train` and `train-engine` are told to keep models they judge meaningless.
KEEP_MEANINGLESS = "--keep-meaningless"
# The key of metrics["data"] saying the model was saved only because KEEP_MEANINGLESS was given.
MEANINGLESS = "meaningless"
# The folder, in a folder of models, where a refusal sends each engine model to a folder of its own.
OWN = "engine"


class Recorded(Protocol):
    """What a command is worded from: the metrics a model's fusion.json records (a FusionMeta, or
    what is left of a fusion.json that cannot be read whole)."""

    @property
    def metrics(self) -> Mapping[str, Any]: ...


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


def keep_option(n: int, metas: Iterable[Recorded] = (), *, asked: bool = False) -> str:
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
    again, about those in folders not named as the model they hold: "; first move ..."
    (`move_first`); "" when there is none."""
    said = move_first(out, metas)
    return f"; {said}" if said else ""


def move_first(out: Path, metas: Mapping[str, FusionMeta]) -> str:
    """ "first move X out of OUT: ..." for the models of `metas` (by their folder's name in `out`)
    in folders not named as the model they hold, as `welfare train` would leave them as they
    are, and refuse to train beside them; "" when there is none."""
    moved = {folder: meta.name for folder, meta in metas.items() if folder != meta.name}
    if not moved:
        return ""
    one = len(moved) == 1
    return (
        f"first move {', '.join(moved)} out of {out}: {'it holds' if one else 'they hold'} "
        f"{', '.join(moved.values())} in {'a folder' if one else 'folders'} of another name, "
        f"which `welfare train` never writes (it saves each model as {out}/<its name>)"
    )


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


def _recorded(meta: Recorded) -> Mapping[str, Any]:
    data = meta.metrics.get("data")
    return data if isinstance(data, Mapping) else {}


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
    (the vision model's folder, where none of it holds that model; the data it was trained on)
    is said after, as is, for `out` None (a model not read from a folder), where to keep it."""
    data = _recorded(meta)
    n = data.get("n") if n is None else n
    seed = data.get("seed") if seed is None else seed
    scored, note = scored_as(data, size=size, vision_model=vision_model, vision_dir=vision_dir)
    command = f"{TRAIN_ENGINE}{f' --n {n}' if n else ''}"
    command += "" if seed is None else f" --seed {seed}"
    command += f"{'' if out is None else f' --out {out}'}{scored}"
    if data.get("subset_seed") is not None and data.get("train_families"):
        command += f" --families {data['train_families']} --subset-seed {data['subset_seed']}"
    command += " --overwrite" if overwrite and out is not None else ""
    keep = keep_option(n or MIN_RECIPE_FAMILIES, [meta])
    return f"`{command}{keep}`{said_after(note, unrecorded_data(n, seed), no_folder(out))}"


def said_after(*parts: str) -> str:
    """The notes `parts` (each ", with ..." or ""), said after a command: each after the first
    reads ", and with ..."."""
    said = [part for part in parts if part]
    return "".join(p if i == 0 else f", and{p[1:]}" for i, p in enumerate(said))


def unrecorded_data(n: object, seed: object) -> str:
    """What to add to a command whose model records no data (n, seed): left out, the command
    trains on the recipe's, which need not be the data the model was trained on."""
    missing = [name for name, left_out in (("--n", not n), ("--seed", seed is None)) if left_out]
    if not missing:
        return ""
    return (
        f", with {' and '.join(missing)} of the data it was trained on, which the model does not "
        "record (the recipe's where left out)"
    )


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
    it is trained again on them)."""
    scored, note = scored_as(_recorded(meta), size=None, vision_model=None)
    families = study_families(meta, n=n)
    command = f"{EVALUATE_REAL} --model {models} --engine-model {own}{scored}"
    return f"`{command}{f' --families {families}' if families else ''}`{note}"


def study_families(meta: FusionMeta, *, n: int | None = None) -> int | None:
    """How many test families evaluate-real may render and score for the engine model of `meta`
    (its --families): its data's test split (of `n` families where given: trained again on
    them), as the split it records draws it (its recipe's for a model saved before it recorded
    its own), at most evaluate-real's default; None where it records no data. The default alone
    is refused on a split smaller than that."""
    from welfare.dataset import split_sizes  # it imports welfare.fusion, which imports this

    data = _recorded(meta)
    n, fraction = data.get("n") if n is None else n, data.get("test_fraction")
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
