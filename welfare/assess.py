"""`assess`: one family's record and photo scores to an advisory `Assessment`.

Nothing here decides. The ASP recommendation is `eligible`, `not_eligible` or `needs_review`;
because a wrong `not_eligible` takes food money from a family, every doubt (probability near
the boundary, rules and model disagreeing, missing inputs, missing, flagged or reused photos,
need or hidden income the declared income does not show; welfare.doubts) gives
`needs_review`, with the doubts listed for the commission.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pandas as pd

from shanyraq.errors import ModelMismatchError
from shanyraq.taxonomy import Taxonomy, get_taxonomy
from vision.score import PhotoScore
from welfare.aggregate import FamilyVisual, PhotoFlags, aggregate
from welfare.criteria import WelfareConfig, get_welfare_config
from welfare.doubts import Recommendation, recommend
from welfare.explain import Reason, top_reasons
from welfare.features import family_features, feature_space
from welfare.fusion import COVERAGE_FEATURE, FusionModel, check_levels
from welfare.retrain_words import build_again
from welfare.rules import INCOME_TEST, LEVEL6, RuleCheck, evaluate_rules
from welfare.schema import FamilyRecord
from welfare.statements import Code, Statement

log = logging.getLogger(__name__)

ADVISORY = "Advisory only: the district commission decides and its decision is recorded."
# The way an assessment is worked out from its inputs, beside the models and configs/welfare.yaml
# it records: raised when code changes what a stored assessment would say for the same inputs,
# so that the service recomputes it (serving.assessments.stale_reason) instead of showing the
# old one as current. 2: reasons are measured effects on the calibrated probability (in
# probability points; before, contributions in logits), and three more doubts send a family to
# review (welfare.doubts). 3: the model's doubts name the model's own level, not one the level-6
# rule set; rule texts give figures to the tiyn; a yes/no reason's sentence says yes or no.
# 4: the level-6 rule on a family under the line is a doubt without a model too; the flagged
# photos doubt and reason name not-a-home photos, which their count includes.
# 5: with no usable photo, the photo figures are one reason ("usable photos: 0"), not each a
# reason of its own; missing criteria are listed in configs/welfare.yaml's order.
LOGIC_VERSION = "5"
# (fusion model version, configured rooms) whose room coverage has been logged about, so that a
# service says it once rather than for every family.
_COVERAGE_SAID: set[tuple[str, tuple[str, ...]]] = set()


@dataclass
class Assessment:
    family_id: str
    level: int | None
    level_source: Literal["model", "rule", "none"]
    # The fusion model's own level and its probabilities (none without a model). When the
    # level-6 rule sets `level`, these stay the model's, and a differing `model_level` is a doubt.
    model_level: int | None
    level_probs: dict[int, float]
    asp: Recommendation
    asp_probability: float | None
    review_reasons: list[str]
    rules_fired: list[str]
    rule_checks: list[dict[str, Any]]
    reasons: list[str]
    reason_details: list[dict[str, Any]]
    # `review_reasons` and `reasons` as statements (code, params, text), in the same order.
    review_statements: list[dict[str, Any]]
    reason_statements: list[dict[str, Any]]
    missing_criteria: list[str]
    photos: dict[str, int]
    model_versions: dict[str, str]
    input_hash: str
    # Whether the fusion model reads photo scores at all (None: no model). A tabular-only
    # model's level and P(eligible) rest on the record alone; photos then only raise doubts.
    model_uses_photos: bool | None = None
    advisory: str = ADVISORY
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["level_probs"] = {str(k): v for k, v in self.level_probs.items()}
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
    rooms = coverage_rooms(model, config=config, taxonomy=taxonomy)
    visual = aggregate(scores, flags=photo_flags, expected_rooms=rooms, taxonomy=taxonomy)
    level_probs: dict[int, float] = {}
    level: int | None = None
    asp_p: float | None = None
    model_reasons: list[Reason] = []
    if model is not None:
        level, level_probs, asp_p, model_reasons = _model_outcome(
            record, visual, model, config, taxonomy
        )
    model_level = level
    source: Literal["model", "rule", "none"] = "model" if level is not None else "none"
    if rules.level6:
        level, source = config.level_values[-1], "rule"
    asp, doubts = recommend(
        asp_probability=asp_p,
        rules=rules,
        level=level,
        model_level=model_level,
        level_probs=level_probs,
        visual=visual,
        missing=record.missing,
        config=config.recommendation,
    )
    # The income test is the legal ground of any ASP recommendation, so it comes first,
    # whatever its outcome; then where the level comes from when the rule set it.
    reasons = [rules.check(INCOME_TEST).statement]
    if source == "rule":
        reasons.append(_level_from_rule(rules.check(LEVEL6)))
    reasons += [r.statement for r in model_reasons] + _missing(record.missing)
    return Assessment(
        family_id=record.family_id,
        level=level,
        level_source=source,
        model_level=model_level,
        level_probs=level_probs,
        asp=asp,
        asp_probability=asp_p,
        review_reasons=[d.text for d in doubts],
        rules_fired=rules.fired,
        rule_checks=[c.to_dict() for c in rules.checks],
        reasons=[r.text for r in reasons],
        reason_details=[r.to_dict() for r in model_reasons],
        review_statements=[d.to_dict() for d in doubts],
        reason_statements=[r.to_dict() for r in reasons],
        missing_criteria=record.missing,
        photos={
            "total": visual.n_photos,
            "usable": visual.n_usable,
            "abstained": visual.n_abstained,
            "quality_failed": visual.n_quality_failed,
            "reused": visual.n_reused,
            "repeated": visual.n_repeated,  # the family's own photo sent again: counted once
            "flagged": visual.n_flagged,  # not usable for any reason, not a dwelling included
        },
        model_versions=_versions(model, scores),
        input_hash=input_hash(record, scores, photo_flags),
        model_uses_photos=model.meta.visual if model is not None else None,
    )


def coverage_rooms_configured(model: FusionModel | None) -> bool:
    """Whether `model` reads photo coverage as a share of configs/welfare.yaml's expected_rooms:
    it reads the feature and records no rooms of its own (`coverage_rooms` then uses the
    config's), so editing them changes what it reads."""
    return model is not None and COVERAGE_FEATURE in model.features and model.coverage_rooms is None


def coverage_rooms(
    model: FusionModel | None, *, config: WelfareConfig, taxonomy: Taxonomy
) -> list[str]:
    """The rooms photo coverage is a share of: those a fusion model reading it was trained
    with (the feature's definition belongs to the model), else configs/welfare.yaml's."""
    configured = list(config.fusion.expected_rooms)
    if model is None or COVERAGE_FEATURE not in model.features:
        return configured
    rooms, version = model.coverage_rooms, model.meta.version
    if rooms is None:  # coverage_rooms_configured
        _say_once(
            model,
            configured,
            "fusion model %s does not record the rooms its photo coverage was trained with "
            "(saved before they were recorded), so assessments use configs/welfare.yaml's "
            "fusion.expected_rooms (%s); retrain it with %s to record them",
            ", ".join(configured),
        )
        return configured
    unknown = sorted(set(rooms) - set(taxonomy.dwelling_rooms))
    if unknown:
        raise ModelMismatchError(
            f"fusion model {version} measures photo coverage over rooms {unknown} that are not "
            "dwelling rooms of configs/taxonomy.yaml; retrain it with "
            f"{build_again(model.folder, model.meta)}"
        )
    if set(rooms) != set(configured):
        _say_once(
            model,
            configured,
            "fusion model %s measures photo coverage over the rooms it was trained with (%s), "
            "not configs/welfare.yaml's fusion.expected_rooms (%s); retraining it with %s "
            "applies the configuration",
            ", ".join(rooms),
            ", ".join(configured),
        )
    return rooms


def _say_once(model: FusionModel, configured: list[str], message: str, *args: object) -> None:
    """Log `message` about `model` once per configured rooms, with its version first and the
    command that builds it again last (worked out only then: it may read its vision model)."""
    said = (model.meta.version, tuple(configured))
    if said not in _COVERAGE_SAID:
        _COVERAGE_SAID.add(said)
        log.warning(message, said[0], *args, build_again(model.folder, model.meta))


def _level_from_rule(check: RuleCheck) -> Statement:
    """The level-6 rule, named with the criteria it met, sets the level (not the model)."""
    how, met = check.params["combine"], check.params.get("met") or []
    names = ", ".join(met) if isinstance(met, list) and met else "none"
    text = f"the level-6 rule ({how} of the criteria; met: {names}) sets the level, not the model"
    return Statement(Code.REASON_LEVEL_FROM_RULE, text, {"combine": how, "met": met})


def _missing(missing: Sequence[str]) -> list[Statement]:
    if not missing:
        return []
    text = f"Missing in the record: {', '.join(missing)}"
    return [Statement(Code.REASON_MISSING_CRITERIA, text, {"criteria": list(missing)})]


def _model_outcome(
    record: FamilyRecord,
    visual: FamilyVisual,
    model: FusionModel,
    config: WelfareConfig,
    taxonomy: Taxonomy,
) -> tuple[int, dict[int, float], float, list[Reason]]:
    space = feature_space(config, taxonomy)
    unknown = sorted(set(model.features) - set(space.names(with_visual=True)))
    if unknown:
        raise ModelMismatchError(
            f"fusion model {model.meta.version} uses features {unknown} this configuration "
            f"does not define; retrain it with {build_again(model.folder, model.meta)}"
        )
    source = f"fusion model {model.meta.version}"
    check_levels(model.meta, config.level_values, source=source, folder=model.folder)
    values = family_features(record, visual, space=space, config=config, taxonomy=taxonomy)
    row = pd.DataFrame([values])
    prediction = model.predict(row)
    level = int(prediction.levels[0])
    index = model.meta.levels.index(level)
    probs = {
        lv: float(p) for lv, p in zip(model.meta.levels, prediction.level_probs[0], strict=True)
    }
    k, least = config.recommendation.top_reasons, config.recommendation.min_reason_points
    name = config.levels[index].name.replace("_", " ")
    reasons = top_reasons(
        model, row, space=space, target="asp", k=k, min_weight=least
    ) + top_reasons(
        model,
        row,
        space=space,
        target="level",
        k=k,
        level_index=index,
        level=level,
        level_name=f"{level} ({name})",
        min_weight=least,
    )
    return level, probs, float(prediction.asp_probability[0]), reasons


def vision_versions(model_versions: Iterable[str]) -> str:
    """The photo models an assessment records: each distinct version once, sorted."""
    return ",".join(sorted(set(model_versions))) or "none"


def _versions(model: FusionModel | None, scores: Sequence[PhotoScore]) -> dict[str, str]:
    return {
        "fusion": model.meta.version if model is not None else "none",
        "vision": vision_versions(s.model_version for s in scores),
    }


def input_hash(
    record: FamilyRecord,
    scores: Sequence[PhotoScore],
    flags: Sequence[PhotoFlags | None] | None,
) -> str:
    """sha256 over the canonical inputs: same inputs, same hash (for the audit trail).

    No flags, a photo's flags given as None and the default `PhotoFlags()` all mean the same
    (`aggregate` reads them so): each photo's flags are hashed written out, as the service
    passes them, so the hashes of stored assessments stay what they were (`_hashed`).
    """
    given = list(flags) if flags is not None else [None] * len(scores)
    payload = {
        "record": record.model_dump(mode="json"),
        "scores": [s.to_dict() for s in scores],
        "flags": [_hashed(f if f is not None else PhotoFlags()) for f in given],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _hashed(flags: PhotoFlags) -> dict[str, Any]:
    """A photo's flags as `input_hash` writes them: `repeated` only when true, so a photo
    without it hashes as before the flag existed (and stored hashes stay reproducible)."""
    written = asdict(flags)
    if not flags.repeated:
        del written["repeated"]
    return written
