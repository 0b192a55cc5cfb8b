"""Each app's OpenAPI says the reason limits its own service checks (configs/serving.yaml
`reason_chars`): the request bodies' models are built once for every app, so their schemas
name only the settings' keys, and two apps in one process may run with different limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from serving.api.assessment_schemas import DecisionIn, decision_reason_description
from serving.api.photo_schemas import RoomCorrectionIn, room_reason_description
from serving.core.reason_chars import ReasonChars

# Each body with a reason in words, and its `reason`'s description for given limits.
_REASON_BODIES: tuple[tuple[str, Callable[[ReasonChars], str]], ...] = (
    (DecisionIn.__name__, decision_reason_description),
    (RoomCorrectionIn.__name__, room_reason_description),
)


def install_reason_limits(app: FastAPI, limits: ReasonChars) -> None:
    """Make `app`'s OpenAPI describe each reason with `limits`, the numbers its service was
    started with, beside their keys. Wraps the app's `openapi` as it is (install it after the
    hooks whose schema it should see) and fills the schema once, when it is first built."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_reason_limits(build(), limits)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def with_reason_limits(spec: dict[str, Any], limits: ReasonChars) -> dict[str, Any]:
    """`spec` with each reason's description saying `limits`. Every dict on the way down is
    replaced, not changed, so nothing a schema may share with another app's is touched."""
    components = dict(spec["components"])
    schemas = dict(components["schemas"])
    for name, describe in _REASON_BODIES:
        body = schemas[name]
        reason = {**body["properties"]["reason"], "description": describe(limits)}
        schemas[name] = {**body, "properties": {**body["properties"], "reason": reason}}
    components["schemas"] = schemas
    return {**spec, "components": components}
