"""Review 20: the OpenAPI's examples are what the API answers. Every example conforms to its
schema and its model, nulls included; a statement model's example is a statement of its own
kind, not its parent's; GET /photos/{photo_id} claims no `duplicate: false`; abstain reasons
are the engine's codes, enumerated."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tests.serving.helpers import Service, jpeg
from tests.serving.openapi_fixtures import METHODS

# `openapi`: as /openapi.json serves it (serving.api.errors puts the nulls of its examples
# back: with_example_nulls).


def _conforms(spec: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    """`instance` against `schema`, whose refs point into `spec` (JSON Schema 2020-12)."""
    from jsonschema import Draft202012Validator

    Draft202012Validator({**schema, "components": spec["components"]}).validate(instance)


def _media_examples(content: dict[str, Any]) -> Iterator[tuple[dict[str, Any], Any]]:
    for media in content.values():
        if "example" in media:
            yield media.get("schema", {}), media["example"]
        for named in media.get("examples", {}).values():
            yield media.get("schema", {}), named["value"]


def _examples(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """Every example in the OpenAPI: (where, its schema, the example)."""
    for name, component in spec["components"]["schemas"].items():
        for example in component.get("examples", []):
            yield name, component, example
        for field, schema in component.get("properties", {}).items():
            for example in schema.get("examples", []):
                yield f"{name}.{field}", schema, example
    for path, item in spec["paths"].items():
        for method in METHODS:
            operation = item.get(method, {})
            for parameter in operation.get("parameters", []):
                for example in parameter.get("schema", {}).get("examples", []):
                    yield f"{method} {path} {parameter['name']}", parameter["schema"], example
            body = operation.get("requestBody", {}).get("content", {})
            for schema, example in _media_examples(body):
                yield f"{method} {path} body", schema, example
            for status, response in operation.get("responses", {}).items():
                for schema, example in _media_examples(response.get("content", {})):
                    yield f"{method} {path} {status}", schema, example


def test_every_example_in_the_openapi_conforms_to_its_schema_and_model(openapi):
    from jsonschema import ValidationError

    from serving.api.schemas import api_models

    spec = openapi
    models = {model.__name__: model for model in api_models()}
    seen, wrong = 0, []
    for where, schema, example in _examples(spec):
        seen += 1
        try:
            _conforms(spec, schema, example)
        except ValidationError as error:
            wrong.append(f"{where}: {error.message}")
        if where in models:  # a component's own example: its model takes it too
            models[where].model_validate(example)
    assert seen >= 20
    assert wrong == []


def _family_example_result() -> dict[str, Any]:
    from serving.api.schemas import FAMILY_EXAMPLE
    from welfare.assess import assess
    from welfare.schema import parse_family

    return assess(parse_family(FAMILY_EXAMPLE), [], model=None).to_dict()


def _examples_of(spec: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """A component's own examples, and one made of its fields' examples where it has any."""
    component = spec["components"]["schemas"][name]
    examples = list(component.get("examples", []))
    fields = {
        field: schema["examples"][0]
        for field, schema in component["properties"].items()
        if schema.get("examples")
    }
    return examples + ([fields] if fields else [])


def test_statement_examples_are_statements_of_their_own_kind(openapi):
    # RuleCheckOut and ReasonOut took StatementOut's field examples: a rule check or a reason
    # whose code and words were a photo doubt's ("doubt.too_few_photos", "at least 3 needed").
    from shanyraq.taxonomy import get_taxonomy
    from welfare.criteria import get_welfare_config
    from welfare.features import feature_space
    from welfare.statements import Code

    result = _family_example_result()
    statements = result["review_statements"] + result["reason_statements"]
    for example in _examples_of(openapi, "StatementOut"):
        assert example in statements, example
    for example in _examples_of(openapi, "RuleCheckOut"):
        assert example in result["rule_checks"], example
    words = feature_space(get_welfare_config(), get_taxonomy()).words
    reasons = _examples_of(openapi, "ReasonOut")
    assert reasons
    for example in reasons:
        code, target = example.get("code"), example.get("target")
        assert code in set(Code) and code.startswith(f"reason.{target}_"), example
        towards = example["contribution"] > 0
        assert code.endswith(("_towards", "_supports")) is towards, example
        assert example["params"] == {"feature": example["feature"], "value": example["value"]}
        assert example["text"].startswith(f"{words[example['feature']]}: "), example
        assert example["feature"] in example["features"]


def _assessed(api: Service, family: dict[str, Any]) -> dict[str, Any]:
    filed = api.client.post("/families", json=family, headers=api.headers("admin"))
    assert filed.status_code == 201, filed.text
    made = api.client.post(
        f"/families/{family['family_id']}/assessments", headers=api.headers("admin")
    )
    assert made.status_code == 201, made.text
    return dict(made.json()["result"])


def _null_fields_kept(api: Service, spec: dict[str, Any], family_id: str) -> None:
    """The result example (the FamilyIn example's family, no photo, no fusion model) against
    what the API answers for that family: every field it answers null is in it, null."""
    from serving.api.schemas import FAMILY_EXAMPLE

    example = spec["components"]["schemas"]["AssessmentResult"]["examples"][0]
    real = _assessed(api, {**FAMILY_EXAMPLE, "family_id": family_id})
    nulls = sorted(field for field, value in real.items() if value is None)
    assert "level" in nulls and "asp_probability" in nulls  # no fusion model: none to give
    assert {field: example.get(field, "left out") for field in nulls} == dict.fromkeys(nulls)
    assert set(example) == set(real)


def test_the_result_example_keeps_the_nulls_of_a_real_answer(api, openapi):
    # FastAPI's encoding of the OpenAPI left level, asp_probability, model_level and
    # model_uses_photos out of the example, which the API answers as null.
    _null_fields_kept(api, openapi, "F-nulls")


def test_a_viewed_photo_claims_no_duplicate(api, openapi):
    # GET /photos/{photo_id} answered `duplicate: false` always, even for a photo whose bytes
    # were sent twice: the field is an upload's answer.
    api.create_family("F-dup")
    first = api.upload("F-dup", jpeg(20))
    again = api.upload("F-dup", jpeg(20))
    assert first.status_code == 201 and first.json()["duplicate"] is False, first.text
    assert again.status_code == 200 and again.json()["duplicate"] is True, again.text
    assert again.json()["photo_id"] == first.json()["photo_id"]
    viewed = api.client.get(f"/photos/{first.json()['photo_id']}", headers=api.headers("admin"))
    assert viewed.status_code == 200, viewed.text
    assert viewed.json()["duplicate"] is None
    documented = openapi["paths"]["/photos/{photo_id}"]["get"]["responses"]["200"]["content"]
    _conforms(openapi, documented["application/json"]["schema"], viewed.json())
    upload = openapi["paths"]["/families/{family_id}/photos"]["post"]["responses"]["201"]
    _conforms(openapi, upload["content"]["application/json"]["schema"], again.json())


def test_abstain_reasons_are_the_engines_codes(openapi):
    # They were free strings.
    from vision.score import ABSTAIN_REASONS

    reasons = openapi["components"]["schemas"]["ScoreOut"]["properties"]["abstain_reasons"]
    assert reasons["type"] == "array" and reasons["items"]["enum"] == list(ABSTAIN_REASONS)
