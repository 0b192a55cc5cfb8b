"""The families the real-score study works on: rows, planned photos and simulated scores.

The study (welfare.real_scores, welfare.real_evaluation) takes families of the very data
(n, seed) the fusion models were trained and evaluated on: test families to compare the
models (`held_out_families`), or any families by index (`families_at`, which
welfare.real_training uses for training families). Their simulated photo scores are drawn
with the seed `synthetic_family_data` uses, so the simulated reading is the one the models
were evaluated on; the families are planned with configs/synth.yaml (get_synth_config), as the
training data are and the photos are rendered, never with another synth config.

`check_trained_on` refuses models that were not trained on the training split those data give
now (configs edited since training), as `welfare evaluate` does, and hands back the data it
generated for it (`Generated`), so the test families are taken from them, not generated again.
A model `welfare train-engine` built, in the --model folder rather than passed as
--engine-model, it refuses first for what it is (`check_not_engine`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from shanyraq.errors import ModelMismatchError
from shanyraq.shell_words import word
from welfare.criteria import WelfareConfig
from welfare.dataset import build_family_data, simulated_families, split_indices
from welfare.fusion import FamilyCountError, FusionModel
from welfare.model_data import keep_option
from welfare.model_folder import TRAIN, TRAIN_ENGINE
from welfare.retrain_words import engine_models, evaluate_real_again, renamed
from welfare.simulate import SimulatedPhoto
from welfare.train import not_trained_on, split_of

if TYPE_CHECKING:
    from training.synth.families import PlannedPhoto


@dataclass(frozen=True)
class HeldOut:
    """Families of the models' data (test families, or training families for
    welfare.real_training): their rows, planned photos and simulated scores."""

    table: pd.DataFrame
    planned: list[tuple[int, PlannedPhoto]]  # (photo index in the whole generated set, photo)
    simulated: dict[str, list[SimulatedPhoto]]
    n: int
    seed: int


@dataclass(frozen=True)
class Generated:
    """All families of data (n, seed) as `synthetic_family_data` makes them: rows, planned
    photos and simulated scores, generated once and shared by the check and the study."""

    table: pd.DataFrame
    photos: list[PlannedPhoto]
    simulated: dict[str, list[SimulatedPhoto]]
    n: int
    seed: int


def generate(n: int, *, seed: int, config: WelfareConfig) -> Generated:
    """The families of data (n, seed), with configs/synth.yaml as synthetic_family_data (the
    training data) and the renders use, and their simulated scores drawn with its seed."""
    families, simulated = simulated_families(n, seed=seed, config=config)
    return Generated(families.table, families.photos, simulated, n=n, seed=seed)


def held_out_families(
    n_families: int,
    *,
    n: int,
    seed: int,
    config: WelfareConfig,
    generated: Generated | None = None,
) -> HeldOut:
    """The first `n_families` of the test split `welfare evaluate` uses for data (n, seed).

    Simulated scores are drawn for every planned photo with the seed `synthetic_family_data`
    uses, so the simulated reading is the very one the models were evaluated on. `generated`:
    those data already generated (by `check_trained_on`), else they are generated here.
    """
    _, test_idx = split_indices(n, test_fraction=config.fusion.test_fraction, seed=seed)
    check_subset(n_families, available=len(test_idx), split="test", n=n, seed=seed)
    return families_at(test_idx[:n_families], n=n, seed=seed, config=config, generated=generated)


def check_subset(n_families: int, *, available: int, split: str, n: int, seed: int) -> None:
    """Refuse asking for fewer than one family, or more than the `split` split holds: saying
    how many were asked for, how many the split holds and what to pass instead (--families,
    which train-engine takes for the training split and evaluate-real for the test split)."""
    if 1 <= n_families <= available:
        return
    data = "data" if split == "training" else "the data the models were trained on"
    asked = f"{n_families} {split} famil{'y' if n_families == 1 else 'ies'} asked for (--families)"
    holds = f"the {split} split of {data} ({n} families, seed {seed}) holds"
    # train-engine trains on the whole training split without --families.
    whole = f", or leave --families out to train on all {available}" if split == "training" else ""
    if n_families < 1:
        raise FamilyCountError(
            f"{asked}, but at least 1 is needed and {holds} {available}: pass --families 1 to "
            f"{available}{whole}"
        )
    raise FamilyCountError(
        f"{asked}, but {holds} only {available}: pass --families {available} or fewer{whole}"
    )


def families_at(
    index: np.ndarray,
    *,
    n: int,
    seed: int,
    config: WelfareConfig,
    generated: Generated | None = None,
) -> HeldOut:
    """Families `index` of the data (n, seed): rows, planned photos, simulated scores; taken
    from `generated` where given (it must be those data), else generated here."""
    if generated is None:
        generated = generate(n, seed=seed, config=config)
    elif (generated.n, generated.seed) != (n, seed):
        raise ValueError(
            f"families generated for data ({generated.n} families, seed {generated.seed}) were "
            f"passed for data ({n} families, seed {seed})"
        )
    chosen = generated.table.iloc[np.asarray(index, dtype=int)].reset_index(drop=True)
    ids = set(chosen["family_id"].astype(str))
    return HeldOut(
        table=chosen,
        planned=[(i, p) for i, p in enumerate(generated.photos) if p.family_id in ids],
        simulated={fid: photos for fid, photos in generated.simulated.items() if fid in ids},
        n=n,
        seed=seed,
    )


def check_trained_on(
    models: Mapping[str, FusionModel],
    *,
    folder: Path,
    n: int,
    seed: int,
    config: WelfareConfig,
    progress: bool = False,
) -> Generated:
    """Refuse models not trained on the training split of data (n, seed) as `config` and
    configs/synth.yaml give it now (ModelMismatchError naming them, what differs and how to
    retrain), with `welfare evaluate`'s check (their training-data hash): the test families
    drawn now would not be the ones held out from them, and could be families they learned.

    The command named trains every registered model (with --keep-meaningless where needed, and
    those in renamed folders moved out first: welfare.retrain_words). A model `welfare
    train-engine` built is refused first, for what it is (`check_not_engine`). Returns the data
    it generated, for `held_out_families` to take the test families from."""
    check_not_engine(models, folder=folder)
    fraction = config.fusion.test_fraction

    def retrain(refused: Collection[str]) -> str:
        """The command that trains the models `refused` again on data (n, seed), as it runs."""
        metas = {name: models[name].meta for name in refused}
        return (
            f"train them again on it (`{TRAIN} --out {word(folder)} --n {n} --seed {seed} "
            f"--overwrite{keep_option(n, metas.values())}`{renamed(folder, metas)}), or put back "
            "the configuration they were trained with"
        )

    split_by = {name: (m.meta.recipe or {}).get("test_fraction") for name, m in models.items()}
    other = {name: f for name, f in split_by.items() if f not in (None, fraction)}
    if other:  # named before the families are generated: the hash could not say what differs
        trained = ", ".join(
            f"{name} on the one test_fraction {f} left" for name, f in other.items()
        )
        raise ModelMismatchError(
            f"{folder}: trained on another training split ({trained}), but fusion.test_fraction "
            f"is {fraction} now, so some of the test families drawn now are families they were "
            f"trained on; {retrain(other)}"
        )
    generated = generate(n, seed=seed, config=config)
    # The training split as synthetic_split gives it: every family read, then the split taken.
    data = build_family_data(generated.table, generated.simulated, config=config, progress=progress)
    differ = not_trained_on(models, split_of(data, n=n, seed=seed, config=config).train, config)
    if differ:
        raise ModelMismatchError(
            f"{folder}: {', '.join(differ)} {'was' if len(differ) == 1 else 'were'} not trained "
            f"on the training split of data ({n} families, seed {seed}) as it is generated now "
            "(the training-data hash differs): configs/welfare.yaml (criteria, "
            "thresholds, levels), configs/synth.yaml or the family generator changed since "
            f"training, so the test families drawn now are not the ones held out; {retrain(differ)}"
        )
    return generated


def check_not_engine(models: Mapping[str, FusionModel], *, folder: Path) -> None:
    """Refuse `models` of the --model `folder` that `welfare train-engine` built
    (ModelMismatchError naming them, where to move each and the command that compares it from
    there), before any family is generated: checked here as `welfare train`'s models are, on
    simulated photo scores, their training data never match (they learned the vision engine's),
    and training again cannot help. The one passed as --engine-model is not among `models`
    (welfare.real_evaluation)."""
    metas = {name: m.meta for name, m in models.items()}
    t = engine_models(folder, metas, lambda own, meta: evaluate_real_again(folder, own, meta))
    if not t:
        return
    raise ModelMismatchError(
        f"{folder}: {t.names} {t.was} built by `{TRAIN_ENGINE}` on the vision engine's photo "
        f"scores, and in --model {t.it} would be checked as the models `{TRAIN}` builds are, on "
        f"simulated photo scores, which {t.their} training data never match: move {t.it} into a "
        f"folder of its own and compare {t.it} from there, as --engine-model ({t.moves}), which "
        "scores the held-out families' photos with the vision model and at the render size it "
        "was trained with"
    )
