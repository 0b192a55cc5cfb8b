"""Fusion trained on engine scores: the training split's photos rendered, scored, then fitted.

`shanyraq welfare train` fits on *simulated* photo scores (welfare.simulate). Here the training
split's families (the split `welfare train --n N --seed S` uses, the recipe's data by default; a
seeded subset when asked) have their planned photos rendered and scored exactly as
welfare.real_scores does for the test families (same render size, quality gate, engine
settings, one thread, the same cache), and the lgbm_fused recipe is fitted on the visual
features those scores give. The model is saved as `lgbm_fused_engine`: the same learner and
features as lgbm_fused, only the photo scores it learned from differ, so it is not a registry
entry (`welfare train` would fit it on simulated scores) but a name on the artifact. Its records
and ASP labels are the synthetic families' (labels drawn under the poverty line), so it records
that line as every fusion model does (`label_basis`) and is refused on load under another.

It is refused as `welfare train` refuses its models: data too few to split and fit, or fewer
than a recipe may ask for, before any photo is scored, and a model that learned nothing, before
it is saved (both allowed with `keep_meaningless`, to try the pipeline, and recorded as `welfare
train` records it: metrics data `meaningless`). It records the options it was trained with
(render size, the vision model's folder made absolute, so that it holds from any working folder,
the subset of training families), so that a refusal names the command that trains it again as it
runs (welfare.retrain_words), and the data (n, seed) and test fraction whose training split it
learned from, and `load_engine_trained` refuses it beside models whose test split is another:
their test families could be its training families. It also records a hash of its training
families' records and labels (no photo score in it: `families_hash`), which
`check_trained_families` compares with those families as they are generated now, as `welfare
evaluate` compares the other models' training-data hashes, and the settings its photo scores and
reuse flags were made with (`score_settings`, the score cache's key but the reuse check), which
`check_scoring` (welfare.real_scoring_check) compares with those scoring the photos now. What it
records is read as the commands read it (welfare.model_data): a value recorded otherwise is a
damaged record, refused as one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from shanyraq.errors import ConfigError, ModelMismatchError
from welfare.criteria import MIN_RECIPE_FAMILIES, WelfareConfig
from welfare.dataset import FamilyData, build_family_data, split_indices, split_sizes
from welfare.engine_record import VISION_DIR, trained_render_size, trained_vision_model
from welfare.engine_trained_split import (
    check_subset_in_split,
    damaged,
    trained_fraction,
    trained_subset,
)
from welfare.fusion import FusionModel, check_trainable
from welfare.fusion_version import model_version
from welfare.model_data import MEANINGLESS, recorded, recorded_pair
from welfare.real_families import Generated, HeldOut, check_subset, families_at
from welfare.real_reuse import reuse_description, reuse_flags
from welfare.real_score_cache import ScoreCache, score_settings
from welfare.real_scores import (
    RealPhoto,
    engine_photos,
    planned_pixels,
    score_photos,
    study_engine,
)
from welfare.retrain_words import train_engine_again
from welfare.train import (
    check_family_count,
    check_learned_something,
    fit_on,
    learned_nothing,
    training_data_hash,
)

log = logging.getLogger(__name__)

ENGINE_MODEL = "lgbm_fused_engine"
RECIPE = "lgbm_fused"  # the registered recipe it is fitted with
CHUNK = 1000  # families scored between cache saves (a stopped run keeps what it scored)


def check_test_fraction(test_fraction: float) -> None:
    """Refuse a test fraction that leaves no test or no training split (0, 1, below, above):
    configs/welfare.yaml is checked when read, a config made in code is not."""
    if not 0 < test_fraction < 1:
        raise ConfigError(
            f"fusion.test_fraction is {test_fraction}: it is the share of families held out "
            "for testing and must be above 0 and below 1 (e.g. 0.25); fix configs/welfare.yaml"
        )


def training_families(
    n_families: int | None,
    *,
    n: int,
    seed: int,
    subset_seed: int,
    config: WelfareConfig,
    generated: Generated | None = None,
) -> HeldOut:
    """The training split of data (n, seed), or a seeded subset of `n_families` of it; taken
    from `generated` where given (those data generated already)."""
    check_test_fraction(config.fusion.test_fraction)
    train_idx, _ = split_indices(n, test_fraction=config.fusion.test_fraction, seed=seed)
    if n_families is not None:
        check_subset(n_families, available=len(train_idx), split="training", n=n, seed=seed)
    if n_families is not None and n_families < len(train_idx):
        rng = np.random.default_rng(subset_seed)
        train_idx = np.sort(rng.choice(train_idx, size=n_families, replace=False))
    return families_at(train_idx, n=n, seed=seed, config=config, generated=generated)


def score_in_chunks(
    held: HeldOut, *, score: Any, chunk: int = CHUNK
) -> tuple[dict[str, RealPhoto], dict[str, float]]:
    """`score(part)` over parts of `chunk` families each, so the cache is saved as it goes."""
    ids = list(dict.fromkeys(held.table["family_id"].astype(str)))
    photos: dict[str, RealPhoto] = {}
    totals: dict[str, float] = dict.fromkeys(
        ("photos", "from_cache", "scored", "unrenderable", "scoring_seconds"), 0
    )
    for start in range(0, len(ids), chunk):
        part_ids = set(ids[start : start + chunk])
        part = replace(held, planned=[(i, p) for i, p in held.planned if p.family_id in part_ids])
        scored, counts = score(part)
        photos.update(scored)
        totals = {k: totals[k] + counts.get(k, 0) for k in totals}
        log.info("%d of %d families scored", min(start + chunk, len(ids)), len(ids))
    totals["scoring_seconds"] = round(totals["scoring_seconds"], 1)
    return photos, totals


def engine_family_data(
    held: HeldOut,
    photos: dict[str, RealPhoto],
    *,
    reused: Mapping[str, bool],
    config: WelfareConfig,
) -> FamilyData:
    """The families' records with visual features from the engine's scores and reuse flags."""
    return build_family_data(held.table, engine_photos(held, photos, reused=reused), config=config)


def fit_engine_fused(
    data: FamilyData, *, config: WelfareConfig, seed: int, source: dict[str, Any]
) -> FusionModel:
    """The lgbm_fused recipe (calibration split as in train) fitted on engine-scored families."""
    model = fit_on(data, RECIPE, config=config, seed=seed, source=source)
    meta = replace(model.meta, name=ENGINE_MODEL)
    model.meta = replace(meta, version=model_version(meta, model.level_head, model.asp_head))
    return model


def train_on_engine_scores(
    out: Path,
    *,
    vision_dir: Path,
    n_families: int | None,
    subset_seed: int,
    size: int,
    cache_dir: Path | None,
    config: WelfareConfig,
    n: int | None = None,
    seed: int | None = None,
    keep_meaningless: bool = False,
    progress: bool = False,
) -> tuple[FusionModel, dict[str, Any]]:
    """Render and score the training families' photos, fit lgbm_fused_engine, save it.

    The data are (n, seed) as `welfare train --n --seed` takes them (default: the recipe's);
    too few families, or a model that learned nothing, are refused unless `keep_meaningless`.
    """
    n = config.fusion.n_families if n is None else n
    seed = config.fusion.seed if seed is None else seed
    check_test_fraction(config.fusion.test_fraction)
    if n_families is not None:
        check_trainable(RECIPE, n_families, config.fusion)
    check_family_count(n, names=[RECIPE], config=config, keep_meaningless=keep_meaningless)
    held = training_families(n_families, n=n, seed=seed, subset_seed=subset_seed, config=config)
    engine = study_engine(vision_dir)
    cache = (
        ScoreCache(cache_dir, engine=engine, held=held, size=size, model_dir=vision_dir)
        if cache_dir
        else None
    )

    def score(part: HeldOut) -> tuple[dict[str, RealPhoto], dict[str, float]]:
        return score_photos(part, engine=engine, size=size, cache=cache, progress=progress)

    photos, counts = score_in_chunks(held, score=score)
    reused, reuse_counts = reuse_flags(
        list(photos.values()),
        hashing=engine.config.hashing,
        pixels_of=planned_pixels(held, size=size, engine=engine),
        progress=progress,
    )
    data = engine_family_data(held, photos, reused=reused, config=config)
    # A subset only when fewer than the whole split were drawn (the report names its seed).
    whole_split = split_sizes(n, test_fraction=config.fusion.test_fraction)[0]
    source = {
        "generator": "training.synth.families",
        "photos": f"vision engine {engine.model_version} on photos rendered at {size} px",
        "vision_model": engine.model_version,
        VISION_DIR: str(Path(vision_dir).resolve()),
        "size": size,
        "n": n,
        "seed": seed,
        "test_fraction": config.fusion.test_fraction,
        "train_families": len(held.table),
        "subset_seed": subset_seed if len(held.table) < whole_split else None,
        "reuse": reuse_description(engine.config.hashing, reuse_counts),
        "families_hash": families_hash(data, config),
        "score_settings": score_settings(engine, size=size, model_dir=vision_dir),
    }
    model = fit_engine_fused(data, config=config, seed=seed, source=source)
    if not keep_meaningless:
        check_learned_something({ENGINE_MODEL: model}, data)
    # Saved only because keep_meaningless let it be? A command training it again carries it.
    empty = learned_nothing({ENGINE_MODEL: model}, data) if keep_meaningless else {}
    model.meta.metrics["data"] = {**source, MEANINGLESS: n < MIN_RECIPE_FAMILIES or bool(empty)}
    model.save(out)
    log.info("%s: %d families -> %s", model.meta.version, len(data), out)
    return model, {
        **counts,
        "families": len(held.table),
        "path": str(cache.path) if cache else None,
    }


def load_engine_trained(
    folder: Path,
    *,
    n: int,
    seed: int,
    vision_model: str | None = None,
    vision_dir: Path | None = None,
    size: int | None = None,
    test_fraction: float | None = None,
    config: WelfareConfig | None = None,
) -> FusionModel:
    """The fused model trained on engine scores, checked to come from the same data (n, seed)
    and, given `vision_model` and `size`, from that vision model's scores of photos rendered at
    that size: it learned those errors, so other scores would be read with the wrong habits.
    A refusal for another vision model names the folder `vision_dir` (that of `vision_model`,
    which scores the photos now) in the command that trains it again, where given.

    Given `test_fraction` (the split the test families are drawn from now), a model whose
    training split was drawn with another is refused: some of its training families would be
    among the test families. One saved before the fraction was recorded in its data is checked
    by its recipe's (the same configs/welfare.yaml gave both); one recording neither is taken
    as it is.

    A model recording its data, test fraction or subset of training families otherwise than as
    the commands take them (n "300", seed true, families 6.5, or more families than its
    training split holds: a damaged record) is refused as such, naming the command that trains
    it again, rather than compared as recorded."""
    model = FusionModel.load(folder, config=config)  # config: the one its data come from
    source = recorded(model.meta.metrics)
    trained_on = recorded_pair(model.meta.metrics)
    if trained_on is None:  # "48", 48.0 or true would otherwise pass for data 48 or be told apart
        raise ModelMismatchError(
            f"{folder}: {damaged(source, ('n', 'seed'), 'the data it was trained on as')}, not "
            "as whole numbers (n above 0): a damaged record, so they cannot be compared with the "
            f"other models' data ({n}, {seed}); train it again on theirs with "
            f"{train_engine_again(folder, model.meta, n=n, seed=seed)}"
        )
    if trained_on != (n, seed):
        raise ModelMismatchError(
            f"{folder}: trained on data {trained_on[0]}, {trained_on[1]}, the other models "
            f"on {n}, {seed}; train it again on theirs with "
            f"{train_engine_again(folder, model.meta, n=n, seed=seed)}"
        )
    trained_subset(folder, model.meta)  # refused before any family is generated
    fraction = trained_fraction(folder, model.meta)
    if test_fraction is not None and fraction not in (None, test_fraction):
        raise ModelMismatchError(
            f"{folder}: trained on the training split left by test_fraction {fraction}, "
            f"but the test families are now drawn with {test_fraction}, so some of them are "
            "families it was trained on; train it again with "
            f"{train_engine_again(folder, model.meta)}"
        )
    if fraction is not None:  # a subset larger than that split holds: a damaged record
        available = split_sizes(n, test_fraction=fraction)[0]
        check_subset_in_split(folder, model.meta, available=available, n=n, seed=seed)
    learned = trained_vision_model(source)
    if vision_model is not None and learned != vision_model:
        again = train_engine_again(
            folder, model.meta, vision_model=vision_model, vision_dir=vision_dir
        )
        raise ModelMismatchError(
            f"{folder}: trained on the scores of vision model {learned or 'unknown'}, but the "
            f"photos are scored by {vision_model} now; train it again with {again}"
        )
    rendered = trained_render_size(source)
    if size is not None and rendered != size:
        raise ModelMismatchError(
            f"{folder}: trained on photos rendered at "
            f"{f'{rendered} px' if rendered else 'an unknown size'}, but they are rendered now at "
            f"{size} px; train it again with {train_engine_again(folder, model.meta, size=size)}"
        )
    return model


def families_hash(data: FamilyData, config: WelfareConfig) -> str | None:
    """The training-data hash of families' records alone (tabular features and labels, no
    photo score): what an engine-trained model records of its training families, so they can
    be checked against the families generated now without their photos scored again."""
    return training_data_hash(data, data.space.names(with_visual=False), config)


def check_trained_families(
    model: FusionModel, *, folder: Path, generated: Generated, config: WelfareConfig
) -> bool:
    """Refuse an engine-trained model whose training families, drawn now from `generated` (the
    data (n, seed) as generated now) as train-engine drew them, are not those it learned from
    (`families_hash` differs): configs changed since, so it learned other records and labels,
    and the test families drawn now are not the ones held out from it. False (unchecked) for a
    model saved before the hash was recorded; True when checked. A subset recorded larger than
    that training split holds is refused as a damaged record (`check_subset_in_split`), not as
    a count the reader asked for."""
    trained_hash = recorded(model.meta.metrics).get("families_hash")
    if not trained_hash:
        return False
    check_test_fraction(config.fusion.test_fraction)
    available = split_sizes(generated.n, test_fraction=config.fusion.test_fraction)[0]
    check_subset_in_split(
        folder, model.meta, available=available, n=generated.n, seed=generated.seed
    )
    n_families, subset_seed = trained_subset(folder, model.meta)
    held = training_families(
        n_families,
        n=generated.n,
        seed=generated.seed,
        subset_seed=subset_seed,
        config=config,
        generated=generated,
    )
    if families_hash(build_family_data(held.table, held.simulated, config=config), config) != (
        trained_hash
    ):
        raise ModelMismatchError(
            f"{folder}: not trained on the training families of data ({generated.n} "
            f"families, seed {generated.seed}) as they are generated now (the hash of their "
            "records and labels differs): configs/welfare.yaml (criteria, thresholds, levels, "
            "test_fraction), configs/synth.yaml or the family generator changed since it was "
            f"trained; train it again with {train_engine_again(folder, model.meta)}, or put back "
            "the configuration it was trained with"
        )
    return True
