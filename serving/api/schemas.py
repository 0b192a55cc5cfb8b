"""Request and response bodies of the API, one pair per resource, with OpenAPI examples.

Assessments and decisions have theirs in serving/api/assessment_schemas.py."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from fastapi.openapi.constants import REF_TEMPLATE
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import to_jsonable_python

from serving.db.models import Role
from serving.reuse_index import REUSE_DETAIL_ROLES
from serving.users import (
    PASSWORD_MAX_CHARS,
    PASSWORD_MIN_CHARS,
    USERNAME_MAX_CHARS,
    USERNAME_MIN_CHARS,
    USERNAME_PATTERN,
)
from shanyraq.json_values import finite_or_none
from vision.score import ABSTAIN_REASONS

# Every criterion of configs/welfare.yaml, in its order: a record lacking one is refused. None
# is null (missing) though: FastAPI leaves nulls out of OpenAPI examples (unless the app's
# OpenAPI goes through `with_example_nulls`), so one would read as a criterion left out.
FAMILY_EXAMPLE: dict[str, Any] = {
    "family_id": "F-000123",
    "region": "shymkent",
    "settlement": "urban",
    "head_gender": "female",
    "criteria": {
        "per_capita_income_kzt": 28000, "dwellings_owned": 1, "dwelling_area_per_person_m2": 9.5,
        "housing_tenure": "owned", "vehicles_owned": 0, "has_legal_entity": False,
        "bank_deposits_kzt": 40000, "credit_burden_ratio": 0.15, "members_with_disability": 0,
        "members_chronically_ill": 1, "head_education_level": 1, "children_out_of_school": 0,
        "members_insured_share": 0.8, "members_total": 5, "members_working": 1,
        "children_under_18": 3, "pensioners": 0, "unemployed_able_bodied": 1,
        "members_in_training": 0, "registered_job_seekers": 1,
        "informal_employment_signs": False, "foreign_trips_12m": 0, "large_purchases_12m_kzt": 0,
    },
}  # fmt: skip


class Token(BaseModel):
    access_token: str = Field(examples=["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."])
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.", examples=[3600])


class UserCreate(BaseModel):
    # serving.users.check_username's rule, which create_user applies again.
    username: str = Field(
        min_length=USERNAME_MIN_CHARS, max_length=USERNAME_MAX_CHARS, pattern=USERNAME_PATTERN
    )
    password: str = Field(min_length=PASSWORD_MIN_CHARS, max_length=PASSWORD_MAX_CHARS)
    role: Role
    region: str | None = Field(None, description="Required for every role but admin.")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "username": "a.nurlanovna",
                    "password": "correct horse battery",
                    "role": "inspector",
                    "region": "shymkent",
                }
            ]
        },
    )


class PasswordChange(BaseModel):
    """The signed-in user's own password change: the current password, then the new one."""

    current_password: str = Field(min_length=1, max_length=PASSWORD_MAX_CHARS)
    new_password: str = Field(
        max_length=PASSWORD_MAX_CHARS,
        description="At least as long as the service's rule asks (answered with 422 "
        "`password_weak` otherwise) and not the current password (`password_unchanged`).",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"current_password": "my old pass phrase", "new_password": "a new long pass phrase"}
            ]
        },
    )


class UserOut(BaseModel):
    id: int
    username: str
    role: Role
    region: str | None
    active: bool


class FamilyIn(BaseModel):
    """A Digital Family Card record; every criterion present, `null` marks a missing value."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [FAMILY_EXAMPLE]},
    )

    # Not dots alone: /ui/families/.. would be another page in a browser (and ".", "..")
    family_id: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]*[A-Za-z0-9_:-][A-Za-z0-9_.:-]*$"
    )
    region: str = Field(max_length=64)
    settlement: str = Field(max_length=16)
    head_gender: str = Field(max_length=16)
    # bool kept as given: welfare.schema takes it for a yes/no flag and refuses it for a
    # count (read as float here, `true` became the count 1 before it could).
    criteria: dict[str, float | str | bool | None]


class FamilyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    settlement: str | None = Field(None, max_length=16)
    head_gender: str | None = Field(None, max_length=16)
    criteria: dict[str, float | str | bool | None] | None = None  # bool: as FamilyIn


class FamilyOut(BaseModel):
    family_id: str
    region: str
    settlement: str
    head_gender: str
    criteria: dict[str, float | str | None]
    version: int
    updated_at: datetime


class QualityOut(BaseModel):
    status: Literal["pass", "warn", "fail"]
    reasons: list[str]
    retake_hint: str = Field(examples=["The photo is blurred. Hold the phone still ..."])
    measurements: dict[str, float]


class ReuseMatch(BaseModel):
    photo_id: int | None = Field(
        None,
        description="null: the other family is outside the viewer's region, or the photo is "
        "still being filed.",
    )
    family_id: str | None = Field(
        None, description="null: the other family is outside the viewer's region."
    )
    distance: int = Field(
        description="Distance of the perceptual hashes in bits (0: identical hashes)."
    )


_DETAIL_ROLES = " and ".join(sorted(REUSE_DETAIL_ROLES))


class ReuseOut(BaseModel):
    """Near-identical photos already filed for other families (a sign of reused photos)."""

    reused: bool
    matches: int = Field(description="How many photos of other families match (every role).")
    details: list[ReuseMatch] = Field(
        default_factory=list,
        description=f"One entry per match, for the {_DETAIL_ROLES} roles only; empty for "
        "the other roles, who get the count alone.",
    )


_NO_NUMBER = (
    "null: the model gave no number (NaN or infinite, e.g. an fp16 overflow on a GPU); the "
    "photo then abstains (`low_confidence`) and none of its scores are used."
)


def _abstain_reasons_in_schema(schema: dict[str, Any]) -> None:
    """OpenAPI: the engine's codes (vision.score.ABSTAIN_REASONS), the only ones it stores."""
    schema["items"]["enum"] = list(ABSTAIN_REASONS)


class ScoreOut(BaseModel):
    """A photo's calibrated scores (vision.score.PhotoScore), keyed by the taxonomy's labels."""

    # Numbers only: FastAPI leaves nulls out of OpenAPI examples, so a score with none (see
    # below) would show as empty heads. The second abstains: not a photo of a home.
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "photo_sha256": "9f2c" + "0" * 60,
                    "model_version": "demo-shanyraq_mnv3_small-20250601-3fa2c9d1",
                    "room": {"kitchen": 0.88, "bathroom": 0.02, "bedroom": 0.04,
                             "living_room": 0.03, "exterior": 0.01, "not_dwelling": 0.02},
                    "condition": {"1": 0.02, "2": 0.61, "3": 0.3, "4": 0.06, "5": 0.01},
                    "signs": {"damp_mould": 0.83, "structural_damage": 0.07,
                              "unfinished_surfaces": 0.12, "broken_window": 0.04,
                              "overcrowding": 0.05, "solid_fuel_stove": 0.02,
                              "premium_appliances": 0.01, "premium_finishes": 0.01},
                    "abstain": False,
                    "abstain_reasons": [],
                },
                {
                    "photo_sha256": "4b7e" + "0" * 60,
                    "model_version": "demo-shanyraq_mnv3_small-20250601-3fa2c9d1",
                    "room": {"kitchen": 0.02, "bathroom": 0.01, "bedroom": 0.01,
                             "living_room": 0.02, "exterior": 0.01, "not_dwelling": 0.93},
                    "condition": {"1": 0.1, "2": 0.2, "3": 0.4, "4": 0.2, "5": 0.1},
                    "signs": {"damp_mould": 0.03, "structural_damage": 0.02,
                              "unfinished_surfaces": 0.05, "broken_window": 0.01,
                              "overcrowding": 0.01, "solid_fuel_stove": 0.01,
                              "premium_appliances": 0.02, "premium_finishes": 0.01},
                    "abstain": True,
                    "abstain_reasons": ["not_dwelling"],
                },
            ]
        }
    )  # fmt: skip

    photo_sha256: str
    model_version: str
    room: dict[str, float | None] = Field(
        description=f"Probability per room class (they sum to 1). {_NO_NUMBER}"
    )
    condition: dict[str, float | None] = Field(
        description=f"Probability per condition grade 1..5 (they sum to 1). {_NO_NUMBER}"
    )
    signs: dict[str, float | None] = Field(
        description=f"Independent probability per sign. {_NO_NUMBER}"
    )
    abstain: bool
    abstain_reasons: list[str] = Field(
        description="Why the photo's scores are not used (empty when they are).",
        json_schema_extra=_abstain_reasons_in_schema,
    )

    @field_validator("room", "condition", "signs")
    @classmethod
    def _no_number_is_null(cls, probs: dict[str, float | None]) -> dict[str, float | None]:
        # A score stored before PhotoScore.to_dict wrote null (SQLite kept the text NaN) reads
        # back as NaN, which the service's JSON responses refuse.
        return finite_or_none(probs)


class RepeatOf(BaseModel):
    """A photo already filed for the same family that a photo is the same as: one that counts,
    where the evidence is already in, not a repeat of it as well. A repeat is named only where
    the photo is verified as it alone (the photo that counts is unreadable); its own
    `repeat_of` names the photo that counts."""

    photo_id: int = Field(description="The filed photo (GET /photos/{photo_id}).")
    number: int = Field(
        description="Its place among the family's photos, oldest first, from 1: the number "
        "the family page shows it under ('Photo 1')."
    )


class PhotoOut(BaseModel):
    photo_id: int
    family_id: str
    sha256: str
    format: str
    width: int = Field(
        description="Full-resolution width as the photo is shown (after EXIF orientation)"
    )
    height: int = Field(
        description="Full-resolution height as the photo is shown (after EXIF orientation)"
    )
    room_hint: str | None
    has_gps: bool
    created_at: datetime
    quality: QualityOut | None
    score: ScoreOut | None
    score_status: Literal["scored", "model_unavailable"]
    repeat_of: list[RepeatOf] = Field(
        default_factory=list,
        description="The family's photos filed before this one that count and that it is the "
        "same as, oldest first, as GET /photos/{photo_id} names them (PhotoViewOut.repeat_of): "
        "its evidence counts once, there, and the family's assessment leaves it out as "
        "`repeated`. Empty when it counts on its own. As found now: the assessment decides "
        "again when it is computed.",
    )


class UploadOut(PhotoOut):
    duplicate: bool = Field(
        description="true: the same bytes were already filed for this family, and this is "
        "the photo filed then (answered with 200, nothing new filed)."
    )
    reuse: ReuseOut
    repeat_of: list[RepeatOf] = Field(
        default_factory=list,
        description="The family's photos that count (already filed) which this photo is the "
        "same as, oldest first: sent again re-encoded, resized or as a screenshot, verified on "
        "pixels as the reuse check is. Its evidence counts once, there: the family's "
        "assessment leaves this photo out as `repeated`. The photo is filed all the same (it "
        "is no reuse and nothing is refused); empty when it counts on its own. As found at "
        "upload: the assessment decides again when it is computed.",
    )


class PhotoViewOut(PhotoOut):
    """One filed photo (GET /photos/{photo_id}), with its reuse flags as of now."""

    duplicate: None = Field(
        None,
        description="Always null: whether the bytes were filed before is an upload's answer "
        "(POST /families/{family_id}/photos), not a property of the photo.",
    )
    reuse: ReuseOut
    repeat_of: list[RepeatOf] = Field(
        default_factory=list,
        description="The family's photos filed before this one that count and that it is the "
        "same as, oldest first, as an upload's answer names them (UploadOut.repeat_of): its "
        "evidence counts once, there, and the family's assessment leaves it out as "
        "`repeated`. Empty when it counts on its own. As found now: the assessment decides "
        "again when it is computed.",
    )


class HealthOut(BaseModel):
    # ok; degraded: serving, with a problem named (e.g. no model configured, HTTP 200);
    # unavailable: cannot serve (HTTP 503: the database, the store or photo scoring is down)
    status: Literal["ok", "degraded", "unavailable"]
    database: str
    store: str
    model_version: str | None
    inference_provider: str | None
    fusion_model_version: str | None
    problems: list[str]


class AuditVerifyOut(BaseModel):
    ok: bool
    entries: int
    problems: list[str]
    notes: list[str] = Field(
        default_factory=list,
        description="What the check could not do, which is no problem (so `ok` stays true): "
        "e.g. the audit anchor file missing or empty, as right after a restore, so the "
        "checks only it makes did not run.",
    )


def api_models() -> list[type[BaseModel]]:
    """The body models of this module and of serving.api.assessment_schemas."""
    from serving.api import assessment_schemas

    return [
        value
        for module in (sys.modules[__name__], assessment_schemas)
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__ == module.__name__
    ]


def with_example_nulls(
    spec: dict[str, Any], models: Iterable[type[BaseModel]] | None = None
) -> dict[str, Any]:
    """`spec` (the app's OpenAPI) with the examples of `models` (default: `api_models()`) as
    the models give them, nulls included; for the app's OpenAPI hook.

    FastAPI encodes its OpenAPI with `exclude_none`, which also drops every null inside an
    example: a field that is null in a real answer (an assessment's `level` without a fusion
    model) went missing from the example. Each model's component gets its own and its
    fields' examples back from the model's JSON schema."""
    components = spec.get("components", {}).get("schemas", {})
    for model in api_models() if models is None else models:
        own = to_jsonable_python(model.model_json_schema(ref_template=REF_TEMPLATE))
        for name in (model.__name__, f"{model.__name__}-Input", f"{model.__name__}-Output"):
            component = components.get(name)
            if component is None:
                continue
            if "examples" in own:
                component["examples"] = own["examples"]
            for field, field_schema in own.get("properties", {}).items():
                if "examples" in field_schema and field in component.get("properties", {}):
                    component["properties"][field]["examples"] = field_schema["examples"]
    return spec
