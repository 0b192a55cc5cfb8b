"""The limits on a reason in words, configs/serving.yaml `reason_chars`: the least an override's
reason holds and the most a decision's and a room correction's reason hold, in characters,
counted as the reason is stored (serving.decisions.reason_words: a line break is one).

The service reads them from its settings wherever a reason is checked or its field is shown:
the decision and room correction refusals (serving.decisions, serving.photo_room), the API's
room correction route (serving.api.routes.photo_room), each app's OpenAPI
(serving.api.openapi_limits) and the family page's forms."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from shanyraq.config import StrictModel, default_configs_dir, read_yaml

# The settings' key, as messages name it.
KEY = "reason_chars"


def _shipped() -> dict[str, Any]:
    """The shipped configs/serving.yaml's `reason_chars`: the defaults of the limits a site's
    serving.yaml leaves out (one source of truth), read as the file is now."""
    return dict(read_yaml(default_configs_dir() / "serving.yaml")[KEY])


class ReasonChars(StrictModel):
    """The reason limits, whole numbers of characters, each at least 1. A limit left out is
    the shipped one: validation reads the shipped file once for all the limits it fills in
    (`_shipped_for_the_missing`); the fields' own defaults serve only a construction that skips
    validation (`model_construct`)."""

    override_min: int = Field(
        default_factory=lambda: int(_shipped()["override_min"]),
        ge=1,
        description="The least an override's reason in words holds.",
    )
    decision_max: int = Field(
        default_factory=lambda: int(_shipped()["decision_max"]),
        ge=1,
        description="The most a decision's reason in words holds.",
    )
    room_correction_max: int = Field(
        default_factory=lambda: int(_shipped()["room_correction_max"]),
        ge=1,
        description="The most a photo's room correction's reason holds (at least one remains).",
    )

    @model_validator(mode="before")
    @classmethod
    def _shipped_for_the_missing(cls, data: Any) -> Any:
        # One read of the shipped file for every limit left out, not one per field default.
        if not isinstance(data, dict):
            return data
        missing = [name for name in cls.model_fields if name not in data]
        if not missing:
            return data
        shipped = _shipped()
        return {**{name: shipped[name] for name in missing}, **data}

    @field_validator("*", mode="before")
    @classmethod
    def _not_a_truth_value(cls, value: object) -> object:
        # Lax validation reads true as 1: a YAML slip, never a limit anyone meant.
        if isinstance(value, bool):
            raise ValueError("expected a whole number of characters, not true or false")
        return value

    @model_validator(mode="after")
    def _override_fits_a_decision(self) -> ReasonChars:
        if self.override_min > self.decision_max:
            raise ValueError(
                f"{KEY}.override_min ({self.override_min}) is above {KEY}.decision_max "
                f"({self.decision_max}): no override's reason could be long enough and short "
                "enough at once; keep override_min at most decision_max"
            )
        return self

    def check_within(self, body_bytes: int) -> None:
        """Refuse a maximum above `body_bytes`, the largest body the service reads (a reason's
        every character takes at least a byte of it): a limit no request could reach."""
        for name in ("decision_max", "room_correction_max"):
            chars = getattr(self, name)
            if chars > body_bytes:
                raise ValueError(
                    f"{KEY}.{name} ({chars}) is above the largest body the service reads "
                    f"({body_bytes} bytes: max_json_body_bytes, or max_body_bytes if smaller), "
                    "so no request could carry such a reason; keep it at most that"
                )
