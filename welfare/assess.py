"""`assess`: one family's record and photo scores to an advisory `Assessment`.

Nothing here decides. The ASP recommendation is `eligible`, `not_eligible` or `needs_review`;
because a wrong `not_eligible` takes food money from a family, every doubt (probability near
the boundary, rules and model disagreeing, missing inputs, missing, flagged or reused photos)
gives `needs_review`, with the doubts listed for the commission.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pandas as pd

from shanyraq.errors import ModelMismatchError
from shanyraq.taxonomy import Taxonomy, get_taxonomy
from vision.score import PhotoScore
from welfare.aggregate import FamilyVisual, PhotoFlags, aggregate
from welfare.criteria import RecommendationConfig, WelfareConfig, get_welfare_config
from welfare.explain import top_reasons
from welfare.features import family_features, feature_space
from welfare.fusion import FusionModel
from welfare.rules import RulesOutcome, evaluate_rules
from welfare.schema import FamilyRecord

Recommendation = Literal["eligible", "not_eligible", "needs_review"]
ADVISORY = "Advisory only: the district commission decides and its decision is recorded."


@dataclass
class Assessment:
    family_id: str
    level: int | None
    level_source: Literal["model", "rule", "none"]
    level_probs: dict[int, float]
    asp: Recommendation
    asp_probability: float | None
    review_reasons: list[str]
    rules_fired: list[str]
    rule_checks: list[dict[str, Any]]
    reasons: list[str]
    reason_details: list[dict[str, Any]]
    missing_criteria: list[str]
    photos: dict[str, int]
    model_versions: dict[str, str]
    input_hash: str
    advisory: str = ADVISORY
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["level_probs"] = {str(k): v for k, v in self.level_probs.items()}
        return out


def recommend(
    *,
    asp_probability: float | None,
    rules: RulesOutcome,
    level: int | None = None,
    visual: FamilyVisual,
    missing: Sequence[str],
    config: RecommendationConfig,
) -> tuple[Recommendation, list[str]]:
    """The ASP band and every reason it needs a human look (empty when it does not)."""
    doubts = _input_doubts(rules, visual, missing, config)
    p = asp_probability
    if p is None:
        doubts.append("no fusion model: the recommendation rests on the income test alone")
        band: Recommendation = "eligible" if rules.income_test else "needs_review"
    else:
        doubts += _disagreements(p, rules)
        high = config.review_if_eligible_and_level_at_least
        if level is not None and level >= high and (p >= 0.5 or rules.income_test):
            doubts.append(
                f"eligible by declared income, yet the model puts the family at level "
                f"{level}: possible hidden income"
            )
        if p >= config.eligible_min_probability:
            band = "eligible"
        elif p <= config.not_eligible_max_probability:
            band = "not_eligible"
        else:
            band = "needs_review"
            doubts.append(f"P(eligible) = {p:.2f} is near the boundary")
    if p is None and rules.income_test is False:
        doubts.append("declared income is above the poverty line; no model to weigh it")
    if doubts:
        return "needs_review", doubts
    return band, []


def _input_doubts(
    rules: RulesOutcome, visual: FamilyVisual, missing: Sequence[str], config: RecommendationConfig
) -> list[str]:
    doubts = [
        f"{name} is missing from the record" for name in config.review_if_missing if name in missing
    ]
    if rules.income_test is None and "per_capita_income_kzt" not in config.review_if_missing:
        doubts.append("the income test cannot be checked")
    if visual.n_usable < config.min_usable_photos:
        doubts.append(
            f"{visual.n_usable} usable photo(s); at least {config.min_usable_photos} needed"
        )
    if visual.n_photos and visual.flagged_share > config.max_flagged_share:
        doubts.append(
            f"{visual.n_flagged} of {visual.n_photos} photos abstained, failed quality or reused"
        )
    if visual.n_reused:
        doubts.append(f"{visual.n_reused} photo(s) reused from another family")
    return doubts


def _disagreements(p: float, rules: RulesOutcome) -> list[str]:
    out = []
    if rules.income_test is True and p < 0.5:
        out.append(f"income is under the poverty line but the model gives P(eligible) = {p:.2f}")
    if rules.income_test is False and p >= 0.5:
        out.append(
            f"income is at or above the poverty line but the model gives P(eligible) = {p:.2f}"
        )
    if rules.level6 is True and (rules.income_test is True or p >= 0.5):
        out.append("the level-6 rule fired on a family the income test or model finds in need")
    return out


def assess(
    record: FamilyRecord,
    scores: Sequence[PhotoScore],
    *,
    model: FusionModel | None,
    photo_flags: Sequence[PhotoFlags | None] | None = None,
    config: WelfareConfig | None = None,
    taxonomy: Taxonomy | None = None,
) -> Assessment:
    """Rules, photo summary, model, recommendation and reasons for one family."""
    config = config or get_welfare_config()
    taxonomy = taxonomy or get_taxonomy()
    rules = evaluate_rules(record, rules=config.rules, thresholds=config.thresholds)
    visual = aggregate(
        scores, flags=photo_flags, expected_rooms=config.fusion.expected_rooms, taxonomy=taxonomy
    )
    level_probs: dict[int, float] = {}
    level: int | None = None
    asp_p: float | None = None
    details: list[dict[str, Any]] = []
    model_reasons: list[str] = []
    if model is not None:
        level, level_probs, asp_p, details = _model_outcome(record, visual, model, config, taxonomy)
        model_reasons = [d["text"] for d in details]
    source: Literal["model", "rule", "none"] = "model" if level is not None else "none"
    if rules.level6:
        level, source = config.level_values[-1], "rule"
    asp, doubts = recommend(
        asp_probability=asp_p,
        rules=rules,
        level=level,
        visual=visual,
        missing=record.missing,
        config=config.recommendation,
    )
    fired = [c.text for c in rules.checks if c.fired and "." not in c.name]
    missing_text = [f"Missing in the record: {', '.join(record.missing)}"] if record.missing else []
    return Assessment(
        family_id=record.family_id,
        level=level,
        level_source=source,
        level_probs=level_probs,
        asp=asp,
        asp_probability=asp_p,
        review_reasons=doubts,
        rules_fired=rules.fired,
        rule_checks=[asdict(c) for c in rules.checks],
        reasons=fired + model_reasons + missing_text,
        reason_details=details,
        missing_criteria=record.missing,
        photos={
            "total": visual.n_photos,
            "usable": visual.n_usable,
            "abstained": visual.n_abstained,
            "quality_failed": visual.n_quality_failed,
            "reused": visual.n_reused,
        },
        model_versions=_versions(model, scores),
        input_hash=input_hash(record, scores, photo_flags),
    )


def _model_outcome(
    record: FamilyRecord,
    visual: FamilyVisual,
    model: FusionModel,
    config: WelfareConfig,
    taxonomy: Taxonomy,
) -> tuple[int, dict[int, float], float, list[dict[str, Any]]]:
    space = feature_space(config, taxonomy)
    unknown = sorted(set(model.features) - set(space.names(with_visual=True)))
    if unknown:
        raise ModelMismatchError(
            f"fusion model {model.meta.version} uses features {unknown} this configuration "
            "does not define; retrain it with `shanyraq welfare train`"
        )
    values = family_features(record, visual, space=space, config=config, taxonomy=taxonomy)
    row = pd.DataFrame([values])
    prediction = model.predict(row)
    level = int(prediction.levels[0])
    index = model.meta.levels.index(level)
    probs = {
        lv: float(p) for lv, p in zip(model.meta.levels, prediction.level_probs[0], strict=True)
    }
    k = config.recommendation.top_reasons
    name = config.levels[index].name.replace("_", " ")
    reasons = top_reasons(model, row, space=space, target="asp", k=k) + top_reasons(
        model,
        row,
        space=space,
        target="level",
        k=k,
        level_index=index,
        level_name=f"{level} ({name})",
    )
    return level, probs, float(prediction.asp_probability[0]), [r.to_dict() for r in reasons]


def _versions(model: FusionModel | None, scores: Sequence[PhotoScore]) -> dict[str, str]:
    vision = sorted({s.model_version for s in scores})
    return {
        "fusion": model.meta.version if model is not None else "none",
        "vision": ",".join(vision) or "none",
    }


def input_hash(
    record: FamilyRecord,
    scores: Sequence[PhotoScore],
    flags: Sequence[PhotoFlags | None] | None,
) -> str:
    """sha256 over the canonical inputs: same inputs, same hash (for the audit trail)."""
    payload = {
        "record": record.model_dump(mode="json"),
        "scores": [s.to_dict() for s in scores],
        "flags": [asdict(f) if f else None for f in (flags or [])],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
