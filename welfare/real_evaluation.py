"""Fusion models on engine-scored vs simulated photos of the same test families, paired.

What `shanyraq welfare evaluate-real` measures: every saved model on both readings of the same
held-out families (welfare.real_scores), level and ASP figures with paired bootstrap intervals
(families resampled, the same resample for every arm), overall and on hidden-income families,
and the gaps that decide whether fusion may trust the photos: fused (engine scores) minus
tabular-only, and fused (engine) minus fused (simulated); beside them, how the engine read the
photos themselves against their planned labels. Each family is also assessed one by one through
`welfare.assess`, as the service would, to show the batch figures are its outcomes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from shanyraq import provenance  # code_version read through it: a replaced one reaches it
from shanyraq.errors import ModelMismatchError
from welfare.assess import Assessment, assess
from welfare.criteria import WelfareConfig
from welfare.dataset import FamilyData
from welfare.evaluation import HIDDEN_INCOME, outcomes
from welfare.fusion import FusionModel
from welfare.paired_bootstrap import paired_bootstrap
from welfare.real_families import check_trained_on, held_out_families
from welfare.real_photo_figures import condition_vs_level, photo_figures
from welfare.real_reuse import reuse_description, reuse_flags
from welfare.real_score_cache import ScoreCache, score_settings
from welfare.real_scores import engine_photos, planned_pixels, readings, score_photos, study_engine
from welfare.real_scoring_check import check_scoring
from welfare.real_training import (
    check_test_fraction,
    check_trained_families,
    load_engine_trained,
)
from welfare.simulate import SimulatedPhoto
from welfare.statements import Code
from welfare.train import load_trained_together

# Kinds of review doubt (welfare.assess), by the statement codes each kind covers.
DOUBTS = {
    "too few usable photos": (Code.DOUBT_TOO_FEW_PHOTOS,),
    "too many photos not used (abstained, failed quality, reused or not a home)": (
        Code.DOUBT_FLAGGED_PHOTOS,
    ),
    "a photo reused from another family": (Code.DOUBT_REUSED_PHOTOS,),
    "P(eligible) near the boundary": (Code.DOUBT_NEAR_BOUNDARY,),
    "possible hidden income": (Code.DOUBT_HIDDEN_INCOME, Code.DOUBT_HIDDEN_INCOME_MONEY),
    "above the line, but the model sees need": (
        Code.DOUBT_ABOVE_LINE_LEVEL_IN_NEED,
        Code.DOUBT_ABOVE_LINE_NEED_LIKELY,
    ),
    "rules and model disagree": (
        Code.DOUBT_UNDER_LINE_MODEL_DISAGREES,
        Code.DOUBT_ABOVE_LINE_MODEL_DISAGREES,
        Code.DOUBT_RULE_OVERRIDES_MODEL_LEVEL,
    ),
    "a criterion missing": (Code.DOUBT_MISSING_CRITERION, Code.DOUBT_MANY_MISSING_CRITERIA),
}
# The doubts a family's photos raise, not its record or the model.
PHOTO_DOUBTS = (Code.DOUBT_TOO_FEW_PHOTOS, Code.DOUBT_FLAGGED_PHOTOS, Code.DOUBT_REUSED_PHOTOS)


def assess_families(
    data: FamilyData,
    photos: Mapping[str, Sequence[SimulatedPhoto]],
    *,
    model: FusionModel,
    config: WelfareConfig,
) -> list[Assessment]:
    """One Assessment per family through `welfare.assess`, as the service makes it."""
    out = []
    for record in data.records:
        family = photos.get(record.family_id, [])
        out.append(
            assess(
                record,
                [p.score for p in family],
                model=model,
                photo_flags=[p.flags for p in family],
                config=config,
            )
        )
    return out


def arm(model: str, reading: str) -> str:
    return f"{model} | {reading}"


def compare(
    models: Mapping[str, FusionModel],
    data: Mapping[str, FamilyData],
    *,
    tabular: str,
    fused: str,
    config: WelfareConfig,
    n_boot: int,
    seed: int,
    engine_trained: str | None = None,
) -> dict[str, Any]:
    """Every model on every reading, overall and on hidden-income families.

    With `engine_trained` (a fused model fitted on engine scores, welfare.real_training), its
    engine-scored arm is also paired with tabular-only and with the simulation-trained fused.
    """
    frames = {
        arm(name, reading): outcomes(model, family_data, config=config)
        for name, model in models.items()
        for reading, family_data in data.items()
    }
    pairs = [
        (arm(fused, "engine"), arm(tabular, "engine")),
        (arm(fused, "engine"), arm(fused, "simulated")),
        (arm(fused, "simulated"), arm(tabular, "simulated")),
    ]
    if engine_trained is not None:
        pairs += [
            (arm(engine_trained, "engine"), arm(tabular, "engine")),
            (arm(engine_trained, "engine"), arm(fused, "engine")),
        ]
    out: dict[str, Any] = {"macro_f1": {}}
    for subset in ("overall", HIDDEN_INCOME):
        chosen = {
            k: (f if subset == "overall" else f[f["case"] == HIDDEN_INCOME]).reset_index(drop=True)
            for k, f in frames.items()
        }
        if not len(next(iter(chosen.values()))):
            out[subset] = None
            continue
        out[subset] = paired_bootstrap(
            chosen, pairs=pairs, levels=config.level_values, n_boot=n_boot, seed=seed
        )
    from sklearn.metrics import f1_score

    for key, f in frames.items():
        out["macro_f1"][key] = float(
            f1_score(
                f["level"],
                f["level_pred"],
                labels=config.level_values,
                average="macro",
                zero_division=0,
            )
        )
    out["_frames"] = frames
    return out


def measure_real_scores(
    models_dir: Path,
    *,
    vision_dir: Path,
    n_families: int,
    size: int,
    cache_dir: Path | None,
    n_boot: int,
    config: WelfareConfig,
    engine_model: Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Score the test families' rendered photos and compare the models on both readings.

    Models not trained on the training split of their data (n, seed) as the configs give it
    now are refused (`check_trained_on`; for `engine_model` `check_trained_families`, and
    `check_scoring` for the settings its photo scores were made with) before any photo is
    rendered."""
    check_test_fraction(config.fusion.test_fraction)
    models, (n, seed) = load_trained_together(models_dir, config)
    fused = config.fusion.default_model
    tabular = fused.replace("_fused", "_tabular")
    if fused not in models or tabular not in models:
        raise ModelMismatchError(f"{models_dir}: needs {fused} and {tabular}; train them first")
    engine = study_engine(vision_dir)
    engine_trained, scoring_differences = None, None  # differences None: not checked
    if engine_model is not None:
        trained = load_engine_trained(
            engine_model,
            n=n,
            seed=seed,
            vision_model=engine.model_version,
            vision_dir=vision_dir,
            size=size,
            test_fraction=config.fusion.test_fraction,
            config=config,
        )
        engine_trained = trained.meta.name
        models = {**models, engine_trained: trained}
        # The settings its scores were made with against those now: refused, or stated.
        now = score_settings(engine, size=size, model_dir=vision_dir)
        scoring_differences = check_scoring(
            trained, folder=engine_model, now=now, vision_dir=vision_dir
        )
    # Refused as `welfare evaluate` refuses them: other families than those they were trained on.
    simulated = {name: m for name, m in models.items() if name != engine_trained}
    generated = check_trained_on(
        simulated, folder=models_dir, n=n, seed=seed, config=config, progress=progress
    )
    # The engine-trained model's training families against those generated now (its hash).
    families_checked = (
        check_trained_families(trained, folder=engine_model, generated=generated, config=config)
        if engine_model is not None
        else None
    )
    # The test families from the data the check generated: generating them again took as long.
    held = held_out_families(n_families, n=n, seed=seed, config=config, generated=generated)
    cache = (
        ScoreCache(cache_dir, engine=engine, held=held, size=size, model_dir=vision_dir)
        if cache_dir
        else None
    )
    photos, counts = score_photos(held, engine=engine, size=size, cache=cache, progress=progress)
    pixels = planned_pixels(held, size=size, engine=engine)
    reused, reuse_counts = reuse_flags(
        list(photos.values()), hashing=engine.config.hashing, pixels_of=pixels, progress=progress
    )
    data = readings(held, photos, reused=reused, config=config)
    result = compare(
        models,
        data,
        tabular=tabular,
        fused=fused,
        config=config,
        n_boot=n_boot,
        seed=seed,
        engine_trained=engine_trained,
    )
    assessed = assess_families(
        data["engine"],
        engine_photos(held, photos, reused=reused),
        model=models[fused],
        config=config,
    )
    result.update(
        # Which code and configuration measured it: `welfare evaluate` leaves a file measured
        # with another configs/welfare.yaml (targets aside) out of the report.
        code_version=provenance.code_version(),
        welfare_config_sha256=config.digest(),
        welfare_config_measured_sha256=config.measured_digest(),
        vision_model=engine.model_version,
        fusion_models={name: m.meta.version for name, m in models.items()},
        tabular=tabular,
        fused=fused,
        engine_trained=engine_trained,
        engine_training=models[engine_trained].meta.metrics["data"] if engine_trained else None,
        engine_families_checked=families_checked,
        engine_scoring_differences=scoring_differences,
        reuse=reuse_description(engine.config.hashing, reuse_counts),
        data={"n": n, "seed": seed, "test_fraction": config.fusion.test_fraction},
        n_families=len(held.table),
        n_hidden_income=int((held.table["case"] == HIDDEN_INCOME).sum()),
        size=size,
        n_boot=n_boot,
        # The provider every score was made with (cached ones too: it is in the cache's key).
        cache={**counts, "path": str(cache.path) if cache else None, "provider": engine.provider},
        photos=photo_figures(held, photos, reused=reused),
        assessments={
            "n": len(assessed),
            "agree_with_batch": _agreement(assessed, result["_frames"][arm(fused, "engine")]),
        },
        condition_vs_level=condition_vs_level(data),
        review_doubts={
            reading: review_doubts(result["_frames"][arm(fused, reading)]) for reading in data
        },
    )
    if engine_trained is not None:
        frame = result["_frames"][arm(engine_trained, "engine")]
        result["review_doubts_engine_trained"] = review_doubts(frame)
        result["review_by_photos_engine_trained"] = review_by_photos(frame)
    return result


def _agreement(assessed: Sequence[Assessment], batch: pd.DataFrame) -> int:
    """Families whose one-by-one Assessment has the batch outcome's level and recommendation."""
    return sum(
        a.asp == rec and a.level == level
        for a, rec, level in zip(assessed, batch["asp"], batch["level_pred"], strict=True)
    )


def review_doubts(frame: pd.DataFrame) -> dict[str, int]:
    """Families whose recommendation went to review for each kind of doubt (one may have many)."""
    codes = [set(c) for c in frame["review_codes"]]
    return {
        kind: sum(any(code in family for code in kinds) for family in codes)
        for kind, kinds in DOUBTS.items()
    }


def review_by_photos(frame: pd.DataFrame) -> dict[str, int]:
    """Families sent to review, and how many of them had a doubt their photos raised."""
    sent = frame[frame["asp"] == "needs_review"]
    photo = {code.value for code in PHOTO_DOUBTS}
    return {
        "families_to_review": len(sent),
        "with_a_photo_doubt": sum(bool(photo & set(c)) for c in sent["review_codes"]),
    }
