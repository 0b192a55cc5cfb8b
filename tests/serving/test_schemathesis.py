"""Property tests from the OpenAPI (in-process, bounded): no 5xx, responses match the schema.

Cases are drawn per operation with hypothesis directly (schemathesis' pytest plugin does not
run under this pytest version), as the national admin, against seeded data.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.serving.helpers import jpeg

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Routes that sign out every session of an account, called with another account's token so
# that the national admin's shared token is never signed out: the inspector signs itself out,
# and the regional admin reaches only accounts of its region (later calls may answer 401).
SIGN_OUT_ACCOUNTS = {"/auth/logout-all": "inspector", "/users/{user_id}/logout-all": "admin"}


@pytest.mark.slow
def test_api_conforms_to_its_openapi(service):
    service.create_family("F1")
    service.upload("F1", jpeg(1))
    service.client.post("/families/F1/assessments", headers=service.headers("inspector"))
    headers = service.headers("admin_national")
    schema = schemathesis.openapi.from_asgi("/openapi.json", service.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=6, deadline=None, derandomize=True, database=None,
            suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        def check(case):
            if case.path == "/auth/logout":  # revokes its token: the rest keep the shared one
                own = {"Authorization": f"Bearer {service.sign_in('admin_national')}"}
                case.call_and_validate(headers=own, checks=CHECKS)
                return
            if case.path in SIGN_OUT_ACCOUNTS:  # never the national admin's: another's token
                case.call_and_validate(headers=service.headers(SIGN_OUT_ACCOUNTS[case.path]),
                                       checks=CHECKS)  # fmt: skip
                return
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()
    # Every operation ran signed in (a revoked shared token would have made them all 401s).
    assert service.client.get("/auth/me", headers=headers).status_code == 200
