"""Request and response bodies of the API, one pair per resource, with OpenAPI examples.

Assessments and decisions have theirs in serving/api/assessment_schemas.py, photos theirs in
serving/api/photo_schemas.py."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from fastapi.openapi.constants import REF_TEMPLATE
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_jsonable_python

from serving.db.models import Role
from serving.users import (
    PASSWORD_MAX_CHARS,
    PASSWORD_MIN_CHARS,
    USERNAME_MAX_CHARS,
    USERNAME_MIN_CHARS,
    USERNAME_PATTERN,
)

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
    """The body models of this module, serving.api.assessment_schemas and photo_schemas."""
    from serving.api import assessment_schemas, photo_schemas

    return [
        value
        for module in (sys.modules[__name__], assessment_schemas, photo_schemas)
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
