"""Bodies of the assessment and decision routes: what `welfare` returned for a family, as
stored, and a commission member's decision on it, with OpenAPI examples."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from serving.assessments import STALE_REASONS
from serving.core.reason_chars import ReasonChars
from welfare.doubts import Recommendation

StatementParam = bool | int | float | str | list[str] | None


def _example_result() -> dict[str, Any]:
    """What `welfare` returns for the family of FamilyIn's example with no photo and no fusion
    model, worked out when a schema is built, so examples say what the code and
    configs/welfare.yaml say (its nulls kept by schemas.with_example_nulls)."""
    from serving.api.schemas import FAMILY_EXAMPLE
    from welfare.assess import assess
    from welfare.schema import parse_family

    result = assess(parse_family(FAMILY_EXAMPLE), [], model=None).to_dict()
    return {**result, "unscored_photos": 0}


def _result_example(schema: dict[str, Any]) -> None:
    schema["examples"] = [_example_result()]


def _statement_example(schema: dict[str, Any]) -> None:
    schema["examples"] = [_example_result()["review_statements"][0]]


def _rule_check_example(schema: dict[str, Any]) -> None:
    schema["examples"] = [_example_result()["rule_checks"][0]]


class StatementOut(BaseModel):
    """One sentence of an assessment as a stable code with its parameters, for any language,
    beside its English text (welfare.statements). Parameters are numbers and names (features,
    criteria, levels), never formatted strings."""

    # Examples are the model's own (each subclass sets its own): a field's example would pass
    # to RuleCheckOut and ReasonOut, showing a doubt's code and words as a rule's or a reason's.
    model_config = ConfigDict(json_schema_extra=_statement_example)

    code: str | None = Field(
        None, description="Stable code; null on assessments stored before codes were recorded."
    )
    params: dict[str, StatementParam] = Field(default_factory=dict)
    text: str


class RuleCheckOut(StatementOut):
    model_config = ConfigDict(json_schema_extra=_rule_check_example)

    name: str
    fired: bool | None = Field(description="null: not checkable (an input is missing).")
    source: str = Field(description="The rule's legal or published source.")


class ReasonOut(StatementOut):
    """A top reason: one fact and what resetting it does to the ASP or level outcome."""

    # Written out: a reason needs a fusion model, which no schema has at hand. Its text is
    # welfare.explain's for this fact (the feature's words in welfare.features).
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "code": "reason.asp_towards",
                    "params": {"feature": "per_capita_income_kzt", "value": 28000.0},
                    "text": "Declared monthly income of the family divided by its members: "
                    "28,000 — points towards ASP eligibility",
                    "feature": "per_capita_income_kzt",
                    "kind": "tabular",
                    "target": "asp",
                    "value": 28000.0,
                    "contribution": 0.31,
                    "features": ["per_capita_income_kzt", "income_subsistence_multiple"],
                }
            ]
        },
    )

    feature: str
    kind: Literal["tabular", "visual"]
    target: Literal["asp", "level"]
    value: float | None
    contribution: float = Field(
        description="What this fact does to the outcome's calibrated probability, in "
        "probability points (-1..1): P(outcome) as recorded minus P(outcome) with the fact "
        "reset to the training families' median (welfare.explain). Positive: towards ASP "
        "eligibility, or supports the level. Assessments made before 2026-12 stored raw "
        "log-odds here, on another scale."
    )
    features: list[str] = Field(
        default_factory=list,
        description="The model features reset together for `contribution`: `feature` and "
        "the figures derived from it alone.",
    )


def _levels() -> list[int]:
    from welfare.criteria import get_welfare_config

    return get_welfare_config().level_values


def _levels_in_schema(schema: dict[str, Any]) -> None:
    """OpenAPI: the levels of configs/welfare.yaml (1, 2, ... in order), read when the schema
    is built, not at import."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "integer":
            branch["minimum"], branch["maximum"] = min(_levels()), max(_levels())


class AssessmentResult(BaseModel):
    """What `welfare` returned. Sentences come twice: in English (`review_reasons`, `reasons`,
    `rule_checks[].text`) and as statements with codes (`review_statements`,
    `reason_statements`, `rule_checks[].code`) for readers of other languages. An older
    assessment may lack fields added since: they are null there."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_result_example)

    review_reasons: list[str] = Field(
        default_factory=list,
        description="The doubts that send the case to review (`asp` needs_review).",
    )
    reasons: list[str] = Field(
        default_factory=list,
        description="The top reasons; the ASP income test first, whatever its outcome.",
    )
    review_statements: list[StatementOut] | None = Field(
        None, description="`review_reasons` as statements; null on older assessments."
    )
    reason_statements: list[StatementOut] | None = Field(
        None, description="`reasons` as statements; null on older assessments."
    )
    rule_checks: list[RuleCheckOut] = Field(default_factory=list)
    reason_details: list[ReasonOut] = Field(default_factory=list)
    level_source: Literal["model", "rule", "none"] | None = Field(
        None,
        description="What set the assessment's level: the fusion model (`model`), the "
        "level-6 rule (`rule`), or nothing (`none`: no fusion model and the rule did not "
        "fire, so `level` is null). null on older assessments.",
    )
    model_uses_photos: bool | None = Field(
        None,
        description="Whether the fusion model reads photo scores at all. false: its level and "
        "P(eligible) rest on the family record alone, and photos only raise review doubts. "
        "null without a fusion model, and on older assessments.",
    )
    model_level: int | None = Field(
        None,
        description="The fusion model's own level; differs from `level` when the level-6 rule "
        "set it (then `level_probs` are still the model's). null without a model, and on "
        "older assessments.",
        json_schema_extra=_levels_in_schema,
    )
    level_probs: dict[str, float] | None = Field(
        None,
        description="The fusion model's calibrated probability of each welfare level, keyed "
        'by the level ("1", "2", ...); empty without a fusion model.',
        examples=[{"1": 0.04, "2": 0.71, "3": 0.2, "4": 0.04, "5": 0.01, "6": 0.0}],
    )
    asp_probability: float | None = Field(
        None,
        ge=0,
        le=1,
        description="The fusion model's calibrated P(eligible for ASP), which `asp` is banded "
        "on (configs/welfare.yaml `recommendation`); null without a fusion model.",
    )
    rules_fired: list[str] | None = Field(
        None, description="The `name` of each rule check that fired."
    )
    missing_criteria: list[str] | None = Field(
        None,
        description="Criteria the record gives as missing (null), in configs/welfare.yaml order.",
    )
    photos: dict[str, int] | None = Field(
        None,
        description="Photo counts: total, usable, abstained, quality_failed, reused, and "
        "flagged (not usable for any reason, not a photo of a home included).",
        examples=[{"total": 4, "usable": 3, "abstained": 1, "quality_failed": 0, "reused": 0,
                   "flagged": 1}],
    )  # fmt: skip
    unscored_photos: int | None = Field(
        None, description="How many of the abstained photos had no score (no photo model)."
    )
    advisory: str | None = Field(None, description="That the district commission decides.")
    family_id: str | None = Field(None, description="As the assessment's own.")
    level: int | None = Field(
        None, description="As the assessment's own.", json_schema_extra=_levels_in_schema
    )
    asp: Recommendation | None = Field(None, description="As the assessment's own.")
    model_versions: dict[str, Any] | None = Field(
        None,
        description="What the assessment rests on: the models welfare used (`fusion`, "
        "`vision`, each photo's model) and digests of the configs' parts that decide its "
        "outcome (`welfare_config`, `taxonomy_config`, `assessment_logic`).",
    )
    input_hash: str | None = Field(None, description="As the assessment's own.")
    extra: dict[str, Any] | None = None


def _stale_reasons_in_schema(schema: dict[str, Any]) -> None:
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string":
            branch["enum"] = list(STALE_REASONS)


class AssessmentOut(BaseModel):
    assessment_id: int
    family_id: str
    version: int
    level: int | None = Field(
        description="The assessed welfare level (configs/welfare.yaml `levels`): the fusion "
        "model's, or the level-6 rule's where it fired; null when neither gave one.",
        json_schema_extra=_levels_in_schema,
    )
    asp: Recommendation = Field(description="The advisory ASP recommendation.")
    result: AssessmentResult
    model_versions: dict[str, Any] = Field(
        description="What it rests on: the models (`fusion`, `vision`, each photo's model) and "
        "digests of the configs' parts that decide its outcome (`welfare_config`, "
        "`taxonomy_config`, `assessment_logic`); a stale_reason names the one that differs."
    )
    photo_ids: list[int]
    family_version: int
    input_hash: str
    created_at: datetime
    stale_reason: str | None = Field(
        None,
        description="Why this assessment is out of date, one of: "
        f"{', '.join(STALE_REASONS)}; null when it is the family's latest and rests on its "
        "current inputs (a decision on it is then accepted). GET .../assessments/latest "
        "recomputes a stale one first, so there it is null or `fusion_model_missing`: made "
        "with a fusion model the service no longer has, the assessment is kept as it was "
        "(not recomputed on the rules alone) and decisions on it are refused until the model "
        "is back.",
        examples=["fusion_model_missing"],
        json_schema_extra=_stale_reasons_in_schema,
    )


def decision_reason_description(limits: ReasonChars | None = None) -> str:
    """DecisionIn's `reason` as its schema describes it. The model is built once for every app,
    so it names only the settings' keys; each app's OpenAPI says the numbers its service
    checks, `limits` (serving.api.openapi_limits), beside the keys."""
    most_key, least_key = (
        "configs/serving.yaml `reason_chars.decision_max`",
        "`reason_chars.override_min`",
    )
    most, least = f"{most_key} characters", f"{least_key} characters"
    if limits is not None:
        most = f"{limits.decision_max} characters ({most_key})"
        least = f"{limits.override_min} characters ({least_key})"
    return (
        f"The reason in words: at most {most}, counted as the decision stores it (without "
        "surrounding space, a line break (CRLF, CR or LF) counted as one, so no `maxLength` "
        "could say it); longer is refused (422, refusal `reason_too_long`). An override's "
        f"needs at least {least} (422, refusal `reason_too_short`)."
    )


class DecisionIn(BaseModel):
    """A commission decision. `accept` takes the assessed level (the assessment's `level`,
    the fusion model's or the level-6 rule's); `override` names another level, a reason code
    from configs/serving.yaml `override_reasons` and a reason in words."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"kind": "accept"},
                {
                    "kind": "override",
                    "level": 2,
                    "reason_code": "income_evidence",
                    "reason": "Wage arrears confirmed by the employer's letter.",
                },
            ]
        },
    )

    kind: Literal["accept", "override"]
    # strict: JSON true is no level (lax validation read it as level 1, extreme need).
    level: int | None = Field(
        None,
        strict=True,
        description="A welfare level of configs/welfare.yaml `levels`.",
        json_schema_extra=_levels_in_schema,
    )
    reason_code: str | None = Field(None, max_length=64)
    # No max_length: serving.decisions counts the reason as the decision stores it (line
    # breaks as LF), as for the page's form; the JSON body limit bounds what is parsed.
    reason: str = Field("", description=decision_reason_description())
    seen_decision_id: int | None = Field(
        None,
        strict=True,
        ge=0,
        le=2**31 - 1,
        description="The family's latest decision_id when the member looked (0: none). Given, "
        "the same decision sent again answers with the one recorded first, and a decision "
        "recorded since is refused (409), so no decision joins one its sender has not seen.",
    )

    @field_validator("level")
    @classmethod
    def _known_level(cls, level: int | None) -> int | None:
        if level is not None and level not in _levels():
            raise ValueError(f"level must be one of {', '.join(map(str, _levels()))}")
        return level


class DecisionOut(BaseModel):
    decision_id: int
    assessment_id: int
    family_id: str
    kind: Literal["accept", "override"]
    model_level: int | None = Field(
        description="The assessed level the decision was made on (the assessment's `level`, "
        "which the level-6 rule may have set: not the result's `model_level`); null: the "
        "system gave none.",
        json_schema_extra=_levels_in_schema,
    )
    decided_level: int = Field(
        description="The level the commission decided.", json_schema_extra=_levels_in_schema
    )
    reason_code: str | None
    reason: str
    decided_by: str
    created_at: datetime
    seen_decision_id: int | None = Field(
        description="The family's latest decision_id its sender had seen (0: none), as sent "
        "with the decision; null: sent without one (a client from before it) or recorded "
        "before the service kept it. The override and fairness reports count a decision sent "
        "without one that repeats its member's previous decision on the family once (a resend "
        "whose first answer was lost), even with other members' decisions between.",
        examples=[0, None],
    )
