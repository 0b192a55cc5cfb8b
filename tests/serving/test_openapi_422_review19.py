"""The 422 the OpenAPI documents is the one the API gives: an ErrorBody (`request_invalid`),
never FastAPI's default `{detail: [...]}` (HTTPValidationError), on every route that can
answer it; checked on the real OpenAPI and on real invalid requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tests.serving.openapi_fixtures import METHODS


def _operations(openapi: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in openapi["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def _resolve(openapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    assert ref.startswith("#/components/schemas/"), schema
    return dict(openapi["components"]["schemas"][ref.rsplit("/", 1)[1]])


def _documented_422(openapi: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    return dict(operation["responses"]["422"]["content"]["application/json"]["schema"])


def test_no_fastapi_validation_schema_is_left(openapi):
    # GET /families, /families/{id}, photos, assessments, decisions... documented FastAPI's.
    schemas = openapi["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert "HTTPValidationError" not in json.dumps(openapi)


def test_every_operation_that_validates_input_documents_the_error_body(openapi):
    validating = [
        (method, path, operation)
        for method, path, operation in _operations(openapi)
        if operation.get("parameters") or operation.get("requestBody")
    ]
    assert len(validating) >= 15
    for method, path, operation in validating:
        assert "422" in operation["responses"], (method, path)
        documented = _documented_422(openapi, operation)
        assert documented == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)
    error = openapi["components"]["schemas"]["ErrorBody"]
    assert {"code", "message", "details"} <= set(error["properties"])


def _invalid(parameter: dict[str, Any]) -> str:
    """A value the parameter's schema refuses."""
    schema = parameter["schema"]
    if schema.get("type") == "integer":
        return "not-a-number"
    assert schema.get("type") == "string" and "maxLength" in schema, parameter
    return "x" * (int(schema["maxLength"]) + 1)


def _who(operation: dict[str, Any]) -> str | None:
    policy = operation["x-policy"]
    if policy.get("public"):
        return None
    roles = policy["roles"]
    return "admin_national" if "admin" in roles else str(roles[0])


def _invalid_request(path: str, operation: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The path and query of a request whose first path or query parameter is refused (any
    other path parameter valid, other query parameters left to their defaults)."""
    given = [p for p in operation["parameters"] if p["in"] in ("path", "query")]
    query: dict[str, str] = {}
    for i, parameter in enumerate(given):
        value = _invalid(parameter) if i == 0 else "1"
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", value)
        elif i == 0:
            query[parameter["name"]] = value
    return path, query


def test_an_invalid_request_is_answered_as_documented(api, openapi):
    from jsonschema import Draft202012Validator

    api.create_family("F1")
    tried = []
    for method, path, operation in _operations(openapi):
        if not any(p["in"] in ("path", "query") for p in operation.get("parameters", [])):
            continue
        url, query = _invalid_request(path, operation)
        who = _who(operation)
        headers = api.headers(who) if who else {}
        response = api.client.request(method.upper(), url, params=query, headers=headers)
        assert response.status_code == 422, (method, url, response.text)
        body = response.json()
        assert body["code"] == "request_invalid", body
        documented = _documented_422(openapi, operation)
        root = {**documented, "components": openapi["components"]}
        Draft202012Validator(root).validate(body)
        # Every field the answer carries is one the schema names (FastAPI's named `detail`).
        properties = _resolve(openapi, documented)["properties"]
        assert set(body) <= set(properties), (method, path, body)
        tried.append((method, path))
    assert ("get", "/families") in tried and ("get", "/photos/{photo_id}") in tried
    assert ("get", "/families/{family_id}/decisions") in tried
    assert len(tried) >= 10
