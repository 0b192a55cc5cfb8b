"""Request and response bodies of the API, one pair per resource, with OpenAPI examples.

Assessments and decisions have theirs in serving/api/assessment_schemas.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from serving.db.models import Role
from serving.users import (
    PASSWORD_MIN_CHARS,
    USERNAME_MAX_CHARS,
    USERNAME_MIN_CHARS,
    USERNAME_PATTERN,
)
from shanyraq.json_values import finite_or_none

_CRITERIA_EXAMPLE: dict[str, Any] = {
    "per_capita_income_kzt": 28000,
    "dwellings_owned": 1,
    "housing_tenure": "owned",
    "bank_deposits_kzt": None,
}


class Token(BaseModel):
    access_token: str = Field(examples=["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."])
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.", examples=[3600])


class UserCreate(BaseModel):
    # serving.users.check_username's rule, which create_user applies again.
    username: str = Field(
        min_length=USERNAME_MIN_CHARS, max_length=USERNAME_MAX_CHARS, pattern=USERNAME_PATTERN
    )
    password: str = Field(min_length=PASSWORD_MIN_CHARS, max_length=256)
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

    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(
        max_length=256,
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
        json_schema_extra={
            "examples": [
                {
                    "family_id": "F-000123",
                    "region": "shymkent",
                    "settlement": "urban",
                    "head_gender": "female",
                    "criteria": _CRITERIA_EXAMPLE,
                }
            ]
        },
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
    photo_id: int | None = Field(None, description="Only for roles allowed to see other families.")
    family_id: str | None = Field(None, description="Only for roles allowed to see it.")
    distance: int


class ReuseOut(BaseModel):
    """Near-identical photos already filed for other families (a sign of reused photos)."""

    reused: bool
    matches: int = Field(description="How many photos of other families match.")
    details: list[ReuseMatch] = Field(default_factory=list)


_NO_NUMBER = (
    "null: the model gave no number (NaN or infinite, e.g. an fp16 overflow on a GPU); the "
    "photo then abstains (`low_confidence`) and none of its scores are used."
)


class ScoreOut(BaseModel):
    """A photo's calibrated scores (vision.score.PhotoScore), keyed by the taxonomy's labels."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "photo_sha256": "9f2c" + "0" * 60,
                    "model_version": "demo-shanyraq_mnv3_small-20250601-3fa2c9d1",
                    "room": {"kitchen": 0.91, "bedroom": 0.06, "not_dwelling": 0.03},
                    "condition": {"1": 0.02, "2": 0.61, "3": 0.3, "4": 0.06, "5": 0.01},
                    "signs": {"damp_mould": 0.83, "broken_window": 0.04},
                    "abstain": False,
                    "abstain_reasons": [],
                },
                {
                    "photo_sha256": "4b7e" + "0" * 60,
                    "model_version": "demo-shanyraq_mnv3_small-20250601-3fa2c9d1",
                    "room": {"kitchen": None, "bedroom": None, "not_dwelling": None},
                    "condition": {"1": None, "2": None, "3": None, "4": None, "5": None},
                    "signs": {"damp_mould": None, "broken_window": None},
                    "abstain": True,
                    "abstain_reasons": ["low_confidence"],
                },
            ]
        }
    )

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
    abstain_reasons: list[str]

    @field_validator("room", "condition", "signs")
    @classmethod
    def _no_number_is_null(cls, probs: dict[str, float | None]) -> dict[str, float | None]:
        # A score stored before PhotoScore.to_dict wrote null (SQLite kept the text NaN) reads
        # back as NaN, which the service's JSON responses refuse.
        return finite_or_none(probs)


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


class UploadOut(PhotoOut):
    duplicate: bool = Field(description="The same bytes were already filed for this family.")
    reuse: ReuseOut


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
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
