"""Refusals before `welfare train` (and `train-engine`) save models into a folder: replacing a
fusion model only when asked (`check_replacing`), and never beside models in the same folder
trained on other data (`check_trained_alike`), a mix `welfare evaluate` would refuse. Split
from welfare/model_folder.py, which saves the models."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from shanyraq.errors import ModelMismatchError, OutputExistsError
from welfare.model_folder import (
    META_FILE,
    TRAIN,
    TRAIN_ENGINE,
    TrainingDataMismatchError,
    model_folders,
    read_meta,
)
from welfare.retrain_words import EngineModels, engine_models, train_engine_again


def check_replacing(folders: Sequence[Path], *, overwrite: bool) -> None:
    """Refuse to replace the fusion models in `folders` unless `overwrite` (OutputExistsError
    naming each with its version), before anything is generated, trained or written: the
    model a service assesses families with may be one of them, and a replaced model is gone
    (it can only be trained again)."""
    held = [folder for folder in folders if (Path(folder) / META_FILE).is_file()]
    if overwrite or not held:
        return
    described = ", ".join(f"{folder} ({_version_of(folder)})" for folder in held)
    raise OutputExistsError(
        f"{described} already hold{'s' if len(held) == 1 else ''} a fusion model, which this "
        "training would replace (a service whose fusion_dir is one of them would assess every "
        "family again with the new model); pass --overwrite to replace "
        f"{'it' if len(held) == 1 else 'them'}, or train into another folder (--out)"
    )


def _version_of(folder: Path) -> str:
    """The version fusion.json in `folder` records, or why it cannot be read."""
    try:
        return read_meta(Path(folder)).version
    except ModelMismatchError:
        return "its fusion.json cannot be read"


def check_trained_alike(
    out: Path,
    *,
    replacing: Collection[str],
    training_hash: Callable[[list[str]], str | None],
    data: tuple[int, int] | None = None,
) -> None:
    """Refuse to save models as out/<name> for each name in `replacing` when `out` holds other
    fusion models trained on other data (TrainingDataMismatchError naming them), before
    anything is trained or written.

    `training_hash(features)` is the training-data hash (FusionMeta.training_data_hash) the
    new models' data give on `features`, or None when they lack one of them; another model was
    trained on the same data when it recorded that hash for its own features. The refusal
    says what to do about each model, by the command that built it (`retrain_command`): one
    `welfare train-engine` built is sent to a folder of its own, to be trained again there on
    the new models' `data` (n, seed; None: its own) with the options it records.
    """
    others = {p.name: read_meta(p) for p in model_folders(out) if p.name not in replacing}
    differ = [n for n, m in others.items() if training_hash(m.features) != m.training_data_hash]
    if differ:
        n, seed = data or (None, None)
        engine = engine_models(
            out,
            {name: others[name] for name in differ},
            lambda own, meta: train_engine_again(own, meta, n=n, seed=seed),
        )
        raise TrainingDataMismatchError(
            f"{out} also holds {', '.join(differ)}, trained on other data than "
            f"{', '.join(sorted(replacing))} would be now, and `welfare evaluate` refuses models "
            f"trained on different data: {_advice(differ, engine, replacing)}"
        )


def _advice(differ: Sequence[str], engine: EngineModels, replacing: Collection[str]) -> str:
    """What to do about the models `differ` trained on other data, `engine` those of them
    `welfare train-engine` built (where each goes, and its command there): `welfare train` can
    train the others together with the models `replacing`, never those (it trains the
    registered models on simulated photo scores)."""
    simulated = [n for n in differ if n not in engine]
    advice = []
    if simulated and engine:
        advice.append(
            f"train {', '.join(simulated)} together with {', '.join(sorted(replacing))} (name "
            "every model with --model, or leave --model out to train all)"
        )
    elif simulated:
        advice.append(
            "train them together (name every model with --model, or leave --model out to train all)"
        )
    if engine:
        advice.append(
            f"{engine.names} {engine.was} built by `{TRAIN_ENGINE}` (lgbm_fused on the vision "
            f"engine's photo scores), which `{TRAIN}` does not train: keep {engine.it} in a folder "
            f"of its own, trained again there on the same data as {', '.join(sorted(replacing))} "
            f"to be compared with them ({engine.moves})"
        )
    return "; ".join(advice) + ", or train into a new folder (--out)"
