"""What the API's error JSON says beside its code: a refused decision's `refusal` (the sub-code
the pages word as `decision_error.<refusal>`) and, on a refusal by role, the `roles` the route
admits; both documented in the OpenAPI's error schema, left out of other answers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving.helpers import (
    OTHER_REGION,
    ROLES,
    Service,
    jpeg,
    started,
)

OVERRIDE = {"kind": "override", "level": 2, "reason_code": "income_evidence",
            "reason": "employer letter shows wage arrears"}  # fmt: skip


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Service]:
    with started(tmp_path, f"sqlite:///{tmp_path / 'api.db'}") as service:
        yield service


def _decide(api: Service, assessment_id: int, body: dict[str, Any], *, level: Any = None) -> Any:
    """The commission's decision on the assessment, its level first set to `level` (as a
    model would give it)."""
    from serving.db.models import Assessment
    from serving.db.session import session_scope

    with session_scope(api.services.sessions) as session:
        assessment = session.get(Assessment, assessment_id)
        assert assessment is not None
        assessment.level = level
    return api.client.post(
        f"/assessments/{assessment_id}/decisions", json=body, headers=api.headers("commission")
    )


def test_every_decision_refusal_carries_its_sub_code(api):
    from serving.decisions import DECISION_REFUSALS

    too_long = api.services.settings.reason_chars.decision_max + 1
    api.create_family("F1")
    made = api.client.post("/families/F1/assessments", headers=api.headers("inspector"))
    aid = int(made.json()["assessment_id"])
    refused = {  # each refusal: (the assessment's level, the decision sent)
        "accept_without_level": (None, {"kind": "accept"}),
        "accept_other_level": (3, {"kind": "accept", "level": 2}),
        "level_not_chosen": (3, {**OVERRIDE, "level": None}),
        "reason_code_not_chosen": (3, {**OVERRIDE, "reason_code": "gut_feeling"}),
        "reason_too_short": (3, {**OVERRIDE, "reason": "no"}),
        "reason_too_long": (3, {**OVERRIDE, "reason": "x" * too_long}),
        "level_unchanged": (3, {**OVERRIDE, "level": 3}),
        "seen_decision_unknown": (3, {**OVERRIDE, "seen_decision_id": 999}),
    }
    seen: dict[str, int] = {}
    for refusal, (level, body) in refused.items():
        answer = _decide(api, aid, body, level=level)
        assert answer.status_code == 422, (refusal, answer.text)
        error = answer.json()
        assert error["code"] == "decision_invalid" and error["message"], error  # kept as before
        seen[error["refusal"]] = answer.status_code
    api.upload("F1", jpeg(3))  # the assessment no longer rests on the family's photos
    stale = _decide(api, aid, OVERRIDE, level=3)
    assert stale.status_code == 409 and stale.json()["code"] == "conflict", stale.text
    seen[stale.json()["refusal"]] = stale.status_code
    # The latest one, made by a fusion model this service lacks: kept, and decisions wait.
    latest = api.client.get("/families/F1/assessments/latest", headers=api.headers("commission"))
    _made_with_a_fusion_model(api, int(latest.json()["assessment_id"]))
    waits = _decide(api, int(latest.json()["assessment_id"]), OVERRIDE, level=3)
    assert waits.status_code == 409 and waits.json()["code"] == "conflict", waits.text
    seen[waits.json()["refusal"]] = waits.status_code
    # A decision recorded after the one the sender saw (seen_decision_id 0: none).
    api.create_family("F2")
    made = api.client.post("/families/F2/assessments", headers=api.headers("inspector"))
    second = int(made.json()["assessment_id"])
    assert _decide(api, second, {**OVERRIDE, "seen_decision_id": 0}, level=3).status_code == 201
    other = {**OVERRIDE, "level": 4, "seen_decision_id": 0}
    meanwhile = _decide(api, second, other, level=3)
    assert meanwhile.status_code == 409 and meanwhile.json()["code"] == "conflict", meanwhile.text
    seen[meanwhile.json()["refusal"]] = meanwhile.status_code
    assert sorted(seen) == sorted(DECISION_REFUSALS)  # each one told apart, none missing


def _made_with_a_fusion_model(api: Service, assessment_id: int) -> None:
    from serving.db.models import Assessment
    from serving.db.session import session_scope

    with session_scope(api.services.sessions) as session:
        row = session.get_one(Assessment, assessment_id)
        row.model_versions = {**row.model_versions, "fusion": "lgbm_tabular-000000000000"}


def test_other_errors_carry_no_sub_code_or_roles(api):
    missing = api.client.get("/families/F9", headers=api.headers("commission"))
    invalid = api.client.post("/families", json={}, headers=api.headers("inspector"))
    anonymous = api.client.get("/families")
    for answer, status in ((missing, 404), (invalid, 422), (anonymous, 401)):
        assert answer.status_code == status, answer.text
        assert not {"refusal", "roles"} & set(answer.json()), answer.json()


def _operations(openapi: dict[str, Any]) -> Iterator[tuple[str, str, list[str]]]:
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            roles = operation.get("x-policy", {}).get("roles")
            if roles:
                yield method, path, roles


def test_a_refusal_by_role_names_the_roles_the_route_admits(api):
    checked = 0
    for method, path, roles in _operations(api.client.get("/openapi.json").json()):
        url = re.sub(r"\{(\w+)\}", "1", path)
        for role in sorted(set(ROLES) - set(roles)):
            answer = api.client.request(method, url, headers=api.headers(role))
            assert answer.status_code == 403, (role, method, path, answer.text)
            error = answer.json()
            assert error["code"] == "forbidden" and error["roles"] == roles, (method, path)
            checked += 1
    assert checked >= 20


def test_a_refusal_by_role_says_nothing_of_the_record_asked_for(api):
    api.create_family("F2", region=OTHER_REGION)
    api.create_family("F1")
    annotator = api.headers("annotator")
    answers = [
        api.client.get(f"/families/{family_id}", headers=annotator).json()
        for family_id in ("F1", "F2", "F404")  # this region's, another region's, none
    ]
    assert answers[0] == answers[1] == answers[2], answers
    assert set(answers[0]) == {"code", "message", "roles"}
    assert not {"F1", "F2", OTHER_REGION} & set(re.findall(r"\w+", str(answers[0])))


def test_a_refusal_for_another_reason_names_no_roles(api):
    from tests.serving.helpers import family_body

    elsewhere = api.client.post(  # an inspector (an allowed role) filing outside the region
        "/families", json=family_body("F3", OTHER_REGION), headers=api.headers("inspector")
    )
    assert elsewhere.status_code == 403 and elsewhere.json()["code"] == "forbidden"
    assert "roles" not in elsewhere.json()


def test_the_error_schema_documents_both_fields_with_examples(api):
    from serving.decisions import DECISION_REFUSALS

    openapi = api.client.get("/openapi.json").json()
    fields = openapi["components"]["schemas"]["ErrorBody"]["properties"]
    assert fields["refusal"]["examples"] == ["reason_too_short"]
    assert all(code in fields["refusal"]["description"] for code in DECISION_REFUSALS)
    assert fields["roles"]["examples"] == [["commission"]]
    assert "x-policy" in fields["roles"]["description"]
    decide = openapi["paths"]["/assessments/{assessment_id}/decisions"]["post"]["responses"]
    for status in ("409", "422"):
        schema = decide[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (status, schema)


@pytest.mark.parametrize("family_id", [".", "..", "..."])
def test_a_family_id_of_dots_alone_is_refused(api, family_id):
    """A page address with it (/ui/families/..) would lead a browser to another page."""
    from tests.serving.helpers import family_body

    made = api.client.post(
        "/families", json=family_body(family_id), headers=api.headers("inspector")
    )
    assert made.status_code == 422 and made.json()["code"] == "request_invalid", made.text
    assert (
        api.client.post(
            "/families", json=family_body(f"F{family_id}1"), headers=api.headers("inspector")
        ).status_code
        == 201
    )


def test_a_key_given_twice_in_a_json_body_is_refused_not_dropped(api):
    """json.loads would keep the second value (income missing) and drop the first."""
    import json

    from serving.db.models import Family
    from tests.serving.helpers import family_body

    body = json.dumps(family_body("F7"))
    twice = body.replace('"criteria": {', '"criteria": {"per_capita_income_kzt": 20000, ', 1)
    assert twice != body and "per_capita_income_kzt" in body
    headers = {**api.headers("inspector"), "content-type": "application/json"}
    refused = api.client.post("/families", content=twice, headers=headers)
    assert refused.status_code == 422 and refused.json()["code"] == "request_invalid"
    assert "'per_capita_income_kzt' is given twice in the object" in refused.json()["message"]
    with api.services.sessions() as session:
        assert session.get(Family, "F7") is None  # nothing stored
    assert api.client.post("/families", content=body, headers=headers).status_code == 201


def test_a_body_that_is_not_json_says_what_the_parser_found(api):
    headers = {**api.headers("inspector"), "content-type": "application/json"}
    refused = api.client.post("/families", content=b'{"family_id": ', headers=headers)
    assert (
        refused.status_code == 422
        and "JSON decode error: Expecting value" in (refused.json()["message"])
    )
