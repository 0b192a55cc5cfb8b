"""Training and evaluation runs on synthetic families: what `shanyraq welfare train|evaluate` call.

Both regenerate the same families from (n, seed), split them the same way, and the evaluation
checks each model's training-data hash against the regenerated training split, so a model is
never evaluated on families it was trained on. A model `welfare train-engine` built (trained on
the vision engine's photo scores, which are not regenerated here) is refused for what it is.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

from shanyraq import provenance  # code_version read through it: a replaced one reaches it
from shanyraq.errors import ModelMismatchError, ShanyraqError
from welfare.criteria import MIN_RECIPE_FAMILIES, WelfareConfig, get_welfare_config
from welfare.dataset import (
    FamilyData,
    split_indices,
    split_sizes,
    synthetic_family_data,
)
from welfare.evaluation import as_read_by, check_fairness_model, evaluate_models
from welfare.fusion import (
    FamilyCountError,
    FusionModel,
    constant_heads,
    data_hash,
    list_models,
    min_training_families,
    train_fusion,
)
from welfare.fusion_version import check_basis_alike, check_label_bases
from welfare.model_data import KEEP_MEANINGLESS, MEANINGLESS, recorded_pair
from welfare.model_folder import (
    TRAIN,
    TRAIN_ENGINE,
    FusionMeta,
    check_destination,
    model_folders,
    read_meta,
    save_models,
)
from welfare.model_replacing import check_replacing, check_trained_alike
from welfare.retrain_words import (
    build_again,
    engine_built,
    engine_models,
    evaluate_real_again,
    mixed_data,
    renamed,
    train_again,
)

log = logging.getLogger(__name__)


class MeaninglessModelError(ShanyraqError):
    """A trained model learned nothing (a head gives every family the same answer)."""

    code = "model_meaningless"
    http_status = 422


@dataclass(frozen=True)
class DataSplit:
    train: FamilyData
    test: FamilyData
    n: int
    seed: int


def synthetic_split(
    n: int, *, seed: int, config: WelfareConfig, progress: bool = True
) -> DataSplit:
    data = synthetic_family_data(n, seed=seed, config=config, progress=progress)
    return split_of(data, n=n, seed=seed, config=config)


def split_of(data: FamilyData, *, n: int, seed: int, config: WelfareConfig) -> DataSplit:
    """The training and test split of data (n, seed), `synthetic_split`'s, of `data` read."""
    train_idx, test_idx = split_indices(
        len(data), test_fraction=config.fusion.test_fraction, seed=seed
    )
    return DataSplit(data.subset(train_idx), data.subset(test_idx), n, seed)


def training_data_hash(data: FamilyData, features: list[str], config: WelfareConfig) -> str | None:
    """The training-data hash a model fitted on `data` with `features` records (as
    `train_fusion` computes it), or None when `data` lack one of the features."""
    if not set(features) <= set(data.features.columns):
        return None
    labels = (
        data.table["latent_level"].to_numpy().astype(int) - config.level_values[0],
        data.table["asp_eligible"].astype(bool).to_numpy().astype(int),
    )
    return data_hash(data.features[features], *labels)


def fit_on(
    data: FamilyData, name: str, *, config: WelfareConfig, seed: int, source: dict[str, Any]
) -> FusionModel:
    model = train_fusion(
        name,
        data.features,
        levels=data.table["latent_level"].to_numpy(),
        asp_eligible=data.table["asp_eligible"].astype(bool).to_numpy(),
        feature_names=data.space.names(with_visual=True),
        level_values=config.level_values,
        recipe=config.fusion,
        seed=seed,
        config=config,  # the basis its features were computed on (not configs/ by default)
    )
    model.meta.metrics["data"] = source
    return model


def check_family_count(
    n: int, *, names: Sequence[str], config: WelfareConfig, keep_meaningless: bool = False
) -> None:
    """Refuse n families too few to split and fit every model in `names` (before any is
    generated), and fewer than MIN_RECIPE_FAMILIES, which make meaningless models, unless
    `keep_meaningless` (then warn)."""
    need = min_training_families(names, config.fusion)
    test_fraction = config.fusion.test_fraction
    if n < 1 or split_sizes(n, test_fraction=test_fraction)[0] < need:
        smallest = next(
            k for k in count(need) if split_sizes(k, test_fraction=test_fraction)[0] >= need
        )
        raise FamilyCountError(
            f"{n} families are too few: {test_fraction:.0%} of them are held out for testing and "
            f"the models need at least {need} training families (some to fit, "
            f"{config.fusion.calibration_fraction:.0%} to calibrate); give at least {smallest} "
            f"(the recipe trains on {config.fusion.n_families})"
        )
    if n >= MIN_RECIPE_FAMILIES:
        return
    if not keep_meaningless:
        raise FamilyCountError(
            f"{n} families are fewer than the {MIN_RECIPE_FAMILIES} a recipe may ask for: models "
            f"trained on them are meaningless, so none is trained or saved; give --n "
            f"{MIN_RECIPE_FAMILIES} or more (the recipe trains on {config.fusion.n_families}), "
            f"or {KEEP_MEANINGLESS} to try the pipeline (into a folder of its own, --out)"
        )
    log.warning(
        "training on %d families, fewer than the %d a recipe may ask for: the models will be "
        "meaningless; use them only to try the pipeline",
        n,
        MIN_RECIPE_FAMILIES,
    )


def learned_nothing(models: Mapping[str, FusionModel], data: FamilyData) -> dict[str, list[str]]:
    """The models with a head that gives every family of `data` (their training families) the
    same answer, each with those heads."""
    return {
        name: heads
        for name, model in models.items()
        if (heads := constant_heads(model.level_head, model.asp_head, model.matrix(data.features)))
    }


def check_learned_something(models: Mapping[str, FusionModel], data: FamilyData) -> None:
    """Refuse models with a head that gives every family of `data` (their training families)
    the same answer (MeaninglessModelError naming them), before any is saved."""
    empty = learned_nothing(models, data)
    if empty:
        which = ", ".join(
            f"{name} ({' and '.join(heads)} head{'s' if len(heads) > 1 else ''})"
            for name, heads in empty.items()
        )
        raise MeaninglessModelError(
            f"{which} learned nothing: each of the {len(data)} training families gets the same "
            "answer from it, so no model was saved; train on more families (--n), leave the "
            f"model out (--model), or pass {KEEP_MEANINGLESS} to save it all the same"
        )


def train_models(
    out: Path,
    *,
    n: int,
    seed: int,
    names: Sequence[str] | None = None,
    config: WelfareConfig | None = None,
    overwrite: bool = False,
    keep_meaningless: bool = False,
) -> dict[str, FusionModel]:
    """Train each named model on the training split and save it under out/<name>/.

    Every out/<name> is checked before any family is generated (one that holds a model is
    replaced only with `overwrite`), other models in `out` are checked to have had their
    features computed as they are now and their ASP labels drawn under today's poverty line
    (`check_basis_alike`) before the families are generated, and to have been trained on the
    same data before any model is trained (`check_trained_alike`), and the models are saved
    together once all are trained (`save_models`): a failure while training or writing
    leaves the old models as they were, rather than some of them replaced by models trained
    on other data. Models the run judges meaningless (fewer than MIN_RECIPE_FAMILIES families,
    or a head that learned nothing) are refused, none saved, unless `keep_meaningless`; each
    model's metrics `data` record whether it was saved only for that (MEANINGLESS), so a command
    that trains it again carries the option (welfare.retrain_words).
    """
    config = config or get_welfare_config()
    names = list(names or list_models())
    for name in names:
        check_destination(out / name)
    check_replacing([out / name for name in names], overwrite=overwrite)
    check_family_count(n, names=names, config=config, keep_meaningless=keep_meaningless)
    check_basis_alike(
        out, replacing=names, config=config, n=n, seed=seed, keep_meaningless=keep_meaningless
    )
    split = synthetic_split(n, seed=seed, config=config)
    check_trained_alike(
        out,
        replacing=names,
        training_hash=lambda features: training_data_hash(split.train, features, config),
        data=(n, seed),
    )
    source = {
        "generator": "training.synth.families",
        "photos": "welfare.simulate",
        "n": n,
        "seed": seed,
    }
    models = {
        name: fit_on(split.train, name, config=config, seed=seed, source=source) for name in names
    }
    if not keep_meaningless:
        check_learned_something(models, split.train)
    empty = learned_nothing(models, split.train) if keep_meaningless else {}
    for name, model in models.items():  # saved only because keep_meaningless let it be?
        kept = n < MIN_RECIPE_FAMILIES or name in empty
        model.meta.metrics["data"] = {**source, MEANINGLESS: kept}
    save_models({out / name: model for name, model in models.items()})
    return models


def load_models(folder: Path, config: WelfareConfig | None = None) -> dict[str, FusionModel]:
    """The models under `folder`, each checked against `config` (default configs/welfare.yaml);
    those trained under another poverty line are refused all together first (`check_label_bases`,
    naming the command that trains them again on the data of the folder's models)."""
    paths = model_folders(folder)
    if not paths:
        raise ModelMismatchError(f"{folder}: no fusion models; run `{TRAIN}` first")
    config = config or get_welfare_config()
    metas = {p.name: read_meta(p) for p in paths}
    n, seed = most_trained_on(metas, config)
    check_label_bases(folder, metas, config, n=n, seed=seed)
    return {p.name: FusionModel.load(p, config=config) for p in paths}


def most_trained_on(metas: Mapping[str, FusionMeta], config: WelfareConfig) -> tuple[int, int]:
    """The data (n, seed) most of the models `welfare train` built in `metas` record (of a tie,
    the first model's by name), else most of the others, else the recipe's: the data to train
    the rest on again, so that all are trained together."""
    engine = engine_built(metas)
    built = [name for name in metas if name not in engine]
    for names in (built, list(metas)):
        counts = Counter(
            data for name in names if (data := recorded_pair(metas[name].metrics)) is not None
        )
        if counts:
            return max(counts, key=lambda data: counts[data])
    return config.fusion.n_families, config.fusion.seed


def training_source(model: FusionModel) -> tuple[int, int]:
    """The (n, seed) of the synthetic data a model was trained on (`welfare train` records it)."""
    data = recorded_pair(model.meta.metrics)
    if data is None:
        raise ModelMismatchError(
            f"{model.meta.name} ({model.meta.version}) does not say which synthetic families it "
            f"was trained on; train it with {build_again(model.folder, model.meta)}"
        )
    return data


def load_trained_together(
    folder: Path, config: WelfareConfig | None = None
) -> tuple[dict[str, FusionModel], tuple[int, int]]:
    """The models under `folder` and the (n, seed) of the data they were all trained on; models
    trained on different data are refused, naming which on which and what to do: train those
    `welfare train` built again on the data most of them were trained on (`most_trained_on`),
    and move those `welfare train-engine` built each to a folder of its own, trained again there
    on that data (`retrain_words.mixed_data`)."""
    models = load_models(folder, config)
    sources = {name: training_source(m) for name, m in models.items()}
    if len(set(sources.values())) != 1:
        metas = {name: m.meta for name, m in models.items()}
        most = most_trained_on(metas, config or get_welfare_config())
        raise ModelMismatchError(mixed_data(folder, metas, sources, most))
    return models, next(iter(sources.values()))


def not_trained_on(
    models: Mapping[str, FusionModel], train: FamilyData, config: WelfareConfig
) -> list[str]:
    """The names of `models` whose training-data hash is not that of `train` as each reads it
    (coverage over its own rooms): trained on other data, or configs changed since."""
    return [
        name
        for name, model in models.items()
        if training_data_hash(as_read_by(model, train, config=config), model.features, config)
        != model.meta.training_data_hash
    ]


def check_simulated_only(folder: Path) -> None:
    """Refuse `folder` when it holds models `welfare train-engine` built (ModelMismatchError
    naming them, where to move each and the command that evaluates it there), before any model
    is loaded or family generated: they were trained on the vision engine's photo scores, which
    `evaluate_saved` does not regenerate (it simulates them), so no regenerated data can match
    their hash."""
    metas = {p.name: read_meta(p) for p in model_folders(folder)}
    t = engine_models(folder, metas, lambda own, meta: evaluate_real_again(folder, own, meta))
    if not t:
        return
    raise ModelMismatchError(
        f"{folder}: {t.names} {t.was} built by `{TRAIN_ENGINE}` on the vision engine's photo "
        "scores, which `welfare evaluate` does not regenerate (it simulates every photo score), "
        f"so {t.their} training data never match here: move {t.it} into a folder of its own and "
        f"evaluate {t.it} there ({t.moves}), which scores held-out families' photos with the "
        "vision model and at the render size it was trained with, and compares it with the models "
        f"`{TRAIN}` built on the same data in --model"
    )


def evaluate_saved(
    folder: Path,
    *,
    n_boot: int,
    config: WelfareConfig | None = None,
    fairness_model: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Evaluate every model under `folder` on the test split of the data they were trained on;
    fairness for `fairness_model` (default: configs/welfare.yaml `fusion.serving_model`). Models
    of `welfare train-engine` are refused first (`check_simulated_only`)."""
    config = config or get_welfare_config()
    check_simulated_only(folder)
    models, (n, seed) = load_trained_together(folder, config)
    check_fairness_model(fairness_model, models)  # before the families are regenerated
    split = synthetic_split(n, seed=seed, config=config)
    differ = not_trained_on(models, split.train, config)
    if differ:
        metas = {name: models[name].meta for name in differ}
        raise ModelMismatchError(
            f"{', '.join(differ)}: regenerated training data does not match the model's hash; "
            "the generator or configs changed since training: train again on the data generated "
            f"now ({train_again(folder, metas, n=n, seed=seed)}{renamed(folder, metas)}), or put "
            "back the configuration they were trained with"
        )
    result = evaluate_models(
        models, split.test, config=config, n_boot=n_boot, seed=seed, fairness_model=fairness_model
    )
    context = {
        "n_families": n,
        "seed": seed,
        "n_train": len(split.train),
        "n_test": len(split.test),
        # The recipe the default model was fitted with (None: saved before recipes were kept).
        "recipe": models[result["default_model"]].meta.recipe,
        "code_version": provenance.code_version(),
        "welfare_config_sha256": config.digest(),
        "welfare_config_measured_sha256": config.measured_digest(),
    }
    return result, context
