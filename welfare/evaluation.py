"""Evaluation of fusion models on held-out families: level metrics, ASP errors, subsets, fairness.

Outcomes are computed exactly as `assess` computes them (same rules, same level-6 override,
same recommendation bands, photo coverage over the rooms a fused model was trained with), but
for all families at once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd

from shanyraq.errors import ShanyraqError
from shanyraq.shell_words import word
from shanyraq.taxonomy import Taxonomy, get_taxonomy
from welfare.assess import coverage_rooms
from welfare.criteria import WelfareConfig
from welfare.dataset import FamilyData
from welfare.doubts import recommend
from welfare.fairness import UNKNOWN_GROUP, fairness_table
from welfare.fusion import COVERAGE_FEATURE, FusionModel

GROUPINGS = ("region", "settlement", "disability_in_family", "head_gender")
HIDDEN_INCOME = "hidden_income"


class FairnessModelMissingError(ShanyraqError):
    """The model asked to report fairness for is not among the models evaluated."""

    code = "fairness_model_missing"


def as_read_by(
    model: FusionModel, data: FamilyData, *, config: WelfareConfig, taxonomy: Taxonomy | None = None
) -> FamilyData:
    """`data` as `model` reads them: a fused model's photo coverage over the rooms it was trained
    with (welfare.assess.coverage_rooms, which says once when they are not `config`'s), not the
    rooms the data were built with; a model that does not read coverage gets `data` as they are."""
    if COVERAGE_FEATURE not in model.features:
        return data
    rooms = coverage_rooms(model, config=config, taxonomy=taxonomy or get_taxonomy())
    return data.over_rooms(rooms)


def outcomes(model: FusionModel, data: FamilyData, *, config: WelfareConfig) -> pd.DataFrame:
    """One row per family: truth, predicted level, recommendation, and the fairness groups."""
    data = as_read_by(model, data, config=config)
    prediction = model.predict(data.features)
    top = config.level_values[-1]
    levels, recs, review, codes = [], [], [], []
    for i, rules in enumerate(data.rules):
        model_level = int(prediction.levels[i])
        levels.append(top if rules.level6 else model_level)
        band, doubts = recommend(
            asp_probability=float(prediction.asp_probability[i]),
            rules=rules,
            level=levels[-1],
            model_level=model_level,
            level_probs=dict(
                zip(model.meta.levels, prediction.level_probs[i].tolist(), strict=True)
            ),
            visual=data.visuals[i],
            missing=data.records[i].missing,
            config=config.recommendation,
        )
        recs.append(band)
        review.append("; ".join(d.text for d in doubts))
        codes.append([d.code.value for d in doubts])
    table = data.table
    disability = table["members_with_disability"].astype("float64")
    return pd.DataFrame(
        {
            "family_id": table["family_id"].astype(str),
            "case": table["case"].astype(str),
            "level": table["latent_level"].astype(int),
            "level_pred": levels,
            "asp_eligible": table["asp_eligible"].astype(bool),
            "asp": recs,
            "asp_probability": prediction.asp_probability,
            "review_reasons": review,
            "review_codes": codes,
            "region": table["region"].astype(str),
            "settlement": table["settlement"].astype(str),
            "head_gender": table["head_gender"].astype(str),
            "disability_in_family": np.where(
                disability.isna(), UNKNOWN_GROUP, np.where(disability > 0, "yes", "no")
            ),
        }
    )


def level_metrics(y_true: np.ndarray, y_pred: np.ndarray, levels: list[int]) -> dict[str, Any]:
    """Accuracy, macro-F1, QWK and the confusion matrix over `levels`. Macro-F1 averages the
    levels the families have or were given: a level absent from both sides of a subset (the
    hidden-income families) would count as an F1 of 0 and pull the mean down for nothing."""
    from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score

    seen = set(np.asarray(y_true).tolist()) | set(np.asarray(y_pred).tolist())
    present = [v for v in levels if v in seen] or levels
    return {
        "n": len(y_true),
        "accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred))),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
        ),
        "qwk": float(cohen_kappa_score(y_true, y_pred, labels=levels, weights="quadratic")),
        "confusion": confusion_matrix(y_true, y_pred, labels=levels).tolist(),
    }


def asp_metrics(eligible: np.ndarray, recommendation: np.ndarray) -> dict[str, Any]:
    """Exclusion error: eligible families recommended not_eligible; inclusion: the reverse."""
    eligible = np.asarray(eligible, dtype=bool)
    rec = np.asarray(recommendation)
    n_eligible, n_not = int(eligible.sum()), int((~eligible).sum())
    return {
        "n": len(rec),
        "n_eligible": n_eligible,
        "exclusion_error": float((rec[eligible] == "not_eligible").mean()) if n_eligible else None,
        "inclusion_error": float((rec[~eligible] == "eligible").mean()) if n_not else None,
        "needs_review_rate": float((rec == "needs_review").mean()) if len(rec) else None,
        "eligible_offered": float((rec[eligible] == "eligible").mean()) if n_eligible else None,
    }


def summarize(frame: pd.DataFrame, levels: list[int]) -> dict[str, Any]:
    """Level and ASP metrics on a set of outcomes."""
    return {
        "level": level_metrics(frame["level"].to_numpy(), frame["level_pred"].to_numpy(), levels),
        "asp": asp_metrics(frame["asp_eligible"].to_numpy(), frame["asp"].to_numpy()),
    }


def evaluate_models(
    models: Mapping[str, FusionModel],
    data: FamilyData,
    *,
    config: WelfareConfig,
    n_boot: int,
    seed: int,
    fairness_model: str | None = None,
) -> dict[str, Any]:
    """Every model overall, on hidden-income families and per case; fairness for one model.

    The targets are held against `fusion.default_model`; fairness is reported for
    `fairness_model`, by default `fusion.serving_model`: the model assessments use, whose
    errors families meet. Either absent from `models`: the other, else the first.
    """
    check_fairness_model(fairness_model, models)  # before any model is evaluated
    levels = config.level_values
    result: dict[str, Any] = {"n_test_families": len(data), "models": {}}
    frames = {}
    for name, model in models.items():
        frame = outcomes(model, data, config=config)
        frames[name] = frame
        hidden = frame[frame["case"] == HIDDEN_INCOME]
        result["models"][name] = {
            "version": model.meta.version,
            "overall": summarize(frame, levels),
            "hidden_income": summarize(hidden, levels) if len(hidden) else None,
            "accuracy_by_case": {
                case: float((g["level"] == g["level_pred"]).mean())
                for case, g in frame.groupby("case")
            },
        }
    recipe = config.fusion
    result["default_model"] = _first_present(frames, recipe.default_model, recipe.serving_model)
    result["serving_model"] = recipe.serving_model
    chosen = fairness_model or _first_present(frames, recipe.serving_model, recipe.default_model)
    if frames:
        figures = fairness_table(
            frames[chosen],
            groupings=GROUPINGS,
            n_boot=n_boot,
            seed=seed,
            min_families=config.fairness.min_families_per_group,
            intervals=config.fairness.intervals,  # `config`'s, never the global configuration's
        )
        result["fairness"] = {
            "model": chosen,
            # How the groups' intervals were drawn: the report says so, and a rerun can match.
            "n_boot": n_boot,
            "seed": seed,
            "figures": [f.to_dict() for f in figures],
        }
    result["_frames"] = frames
    return result


def check_fairness_model(fairness_model: str | None, available: Collection[str]) -> None:
    """Refuse a `fairness_model` that is not among the `available` models' names."""
    if fairness_model is not None and fairness_model not in available:
        raise FairnessModelMissingError(
            f"no model {fairness_model!r} to report fairness for: the models evaluated are "
            f"{', '.join(available) or 'none'}; choose one of them, or train it first "
            f"(`shanyraq welfare train --model {word(fairness_model)}`)"
        )


def _first_present(frames: Mapping[str, Any], *names: str) -> str:
    """The first of `names` that was evaluated, else the first model evaluated ("" if none)."""
    return next((name for name in names if name in frames), next(iter(frames), ""))
