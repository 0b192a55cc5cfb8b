"""Every route declares a policy, and the role x route matrix enforces exactly that policy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi.routing import APIRoute

from tests.serving.helpers import REGION, ROLES, jpeg

# Routes whose policy is fixed by the design, checked beside what the OpenAPI declares.
PINNED = {
    ("post", "/assessments/{assessment_id}/decisions"): ["commission"],
    ("post", "/users"): ["admin"],
    ("get", "/users"): ["admin"],
    ("get", "/audit/verify"): ["admin"],
    ("post", "/families/{family_id}/photos"): ["admin", "inspector"],
    ("put", "/families/{family_id}/photos/{photo_id}/room"): ["admin", "inspector"],
    ("post", "/auth/logout-all"): sorted(ROLES),
    ("post", "/users/{user_id}/logout-all"): ["admin"],
}
# Routes that sign out every token of the caller: run last, so the matrix's shared tokens
# serve every other route first.
SIGNS_OUT_CALLER = {("post", "/auth/logout-all")}


def _operations(openapi: dict) -> list[tuple[str, str, dict]]:
    operations = [
        (method, path, operation)
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    return sorted(operations, key=lambda op: (op[0], op[1]) in SIGNS_OUT_CALLER)  # stable


def test_every_route_declares_a_policy(service):
    operations = _operations(service.client.get("/openapi.json").json())
    assert len(operations) >= 20
    missing = [f"{m.upper()} {p}" for m, p, op in operations if "x-policy" not in op]
    assert not missing, f"routes without a declared policy: {missing}"
    for (method, path), roles in PINNED.items():
        declared = next(op for m, p, op in operations if (m, p) == (method, path))["x-policy"]
        assert declared.get("roles") == roles, (method, path, declared)


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute below `routes`, included routers entered (whichever way this FastAPI
    keeps them), the pages' routes that the OpenAPI leaves out among them."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        else:
            inner = getattr(route, "original_router", route)
            yield from _routes(getattr(inner, "routes", []))


def test_every_route_declares_a_policy_also_outside_the_openapi(service):
    routes = list(_routes(service.app.routes))
    pages = [r for r in routes if not r.include_in_schema]
    assert len(pages) >= 15 and any(r.path == "/ui/login" for r in pages)
    missing = [
        f"{','.join(sorted(r.methods))} {r.path}"
        for r in routes
        if "x-policy" not in (r.openapi_extra or {})
    ]
    assert not missing, f"routes without a declared policy: {missing}"


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


def test_role_route_matrix(service):
    service.create_family("F1")
    photo = service.upload("F1", jpeg(1)).json()
    assessment = service.client.post(
        "/families/F1/assessments", headers=service.headers("inspector")
    )
    target = service.client.post(  # an account of the region for the admin's sign-out route
        "/users", headers=service.headers("admin_national"),
        json={"username": "target", "password": "target password", "role": "inspector",
              "region": REGION},
    )  # fmt: skip
    ids = {"family_id": "F1", "photo_id": str(photo["photo_id"]),
           "assessment_id": str(assessment.json()["assessment_id"]),
           "user_id": str(target.json()["id"])}  # fmt: skip
    covered = set()
    checked = 0
    for method, path, operation in _operations(service.client.get("/openapi.json").json()):
        policy = operation["x-policy"]
        url = _fill(path, ids)
        anonymous = service.client.request(method, url)
        if policy.get("public"):
            assert anonymous.status_code not in (401, 403), (method, path)
            continue
        assert anonymous.status_code == 401, (method, path, anonymous.status_code)
        assert anonymous.json()["code"] == "not_authenticated"
        for role in ROLES:
            headers = service.headers(role)
            if (method, path) == ("post", "/auth/logout"):  # revokes the token it is sent with
                headers = {"Authorization": f"Bearer {service.sign_in(role)}"}
            response = service.client.request(method, url, headers=headers)
            covered.add((method, path))
            if role in policy["roles"] and policy.get("scope") == "national":
                # The ROLES users are regional: a national-scope route refuses them too.
                assert response.status_code == 403, (role, method, path, response.status_code)
                assert response.json()["code"] == "national_scope_required"
                national = service.client.request(
                    method, url, headers=service.headers("admin_national")
                )
                assert national.status_code not in (401, 403), (method, path, national.text)
            elif role in policy["roles"]:
                assert response.status_code not in (401, 403), (role, method, path, response.text)
            else:
                assert response.status_code == 403, (role, method, path, response.status_code)
                assert response.json()["code"] == "forbidden"
            checked += 1
    assert checked >= 60
    assert set(PINNED) <= covered


def test_bad_tokens_are_refused_by_the_api(service):
    token = service.tokens["admin"]
    header, payload, signature = token.split(".")
    cases = {
        "tampered": f"{header}.{payload[:-2]}xx.{signature}",
        "alg_none": "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + payload + ".",
        "garbage": "not-a-token",
    }
    for name, bad in cases.items():
        response = service.client.get("/users", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401, name
        assert response.json()["code"] == "token_invalid"


def test_expired_token_refused_by_the_api(service):
    from serving.core.security import create_token

    expired = create_token(
        user_id=1, username="inspector", role="inspector", region="shymkent",
        key=service.services.signing_key, ttl_s=-1,
    )  # fmt: skip
    response = service.client.get("/auth/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401 and "expired" in response.json()["message"]
