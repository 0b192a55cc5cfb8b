"""The API's OpenAPI against what its routes return and what configs/ say: examples a client
can send or read as they are, every returned field documented, levels, recommendations and
stale reasons enumerated, descriptions that say what the code does."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, get_args

import pytest

from tests.serving.helpers import jpeg, make_settings, small_fusion_model, started


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The app's OpenAPI as /openapi.json serves it (FastAPI's own encoding of examples)."""
    from serving.app import create_app

    tmp = tmp_path_factory.mktemp("openapi")
    app = create_app(make_settings(tmp, f"sqlite:///{tmp / 'openapi.db'}"))
    return app.openapi()


def _schema(openapi: dict[str, Any], name: str) -> dict[str, Any]:
    return openapi["components"]["schemas"][name]


def _conforms(openapi: dict[str, Any], name: str, instance: Any) -> None:
    """`instance` against the OpenAPI's schema `name` (JSON Schema 2020-12, OpenAPI 3.1)."""
    from jsonschema import Draft202012Validator

    root = {"$ref": f"#/components/schemas/{name}", "components": openapi["components"]}
    Draft202012Validator(root).validate(instance)


def _integer(prop: dict[str, Any]) -> dict[str, Any]:
    return next(b for b in prop.get("anyOf", [prop]) if b.get("type") == "integer")


def test_the_family_example_is_filed_as_it_stands(tmp_path: Path, openapi):
    # It named 4 of the 23 criteria (its null one left out by FastAPI): refused with 422.
    example = _schema(openapi, "FamilyIn")["examples"][0]
    with started(tmp_path) as service:
        filed = service.client.post("/families", json=example, headers=service.headers("admin"))
        assert filed.status_code == 201, filed.text
        assert filed.json()["criteria"].keys() == example["criteria"].keys()


def test_score_examples_carry_every_label_and_abstain_as_the_engine_would(openapi):
    # The abstaining example's nulls were left out by FastAPI: three empty heads.
    from shanyraq.taxonomy import get_taxonomy
    from vision.engine import abstain_reasons, load_engine_config

    taxonomy, config = get_taxonomy(), load_engine_config()
    examples = _schema(openapi, "ScoreOut")["examples"]
    assert len(examples) == 2
    for example in examples:
        room, signs = example["room"], example["signs"]
        condition = {int(k): v for k, v in example["condition"].items()}
        assert sorted(room) == sorted(taxonomy.room_names)
        assert sorted(condition) == sorted(taxonomy.condition_values)
        assert sorted(signs) == sorted(taxonomy.sign_names)
        assert math.isclose(sum(room.values()), 1) and math.isclose(sum(condition.values()), 1)
        said = abstain_reasons(
            room, condition, None, abstain=config.abstain,
            not_dwelling=taxonomy.not_dwelling, signs=signs,
        )  # fmt: skip
        assert example["abstain_reasons"] == list(said)
        assert example["abstain"] is bool(said)
    assert any(e["abstain"] for e in examples) and not all(e["abstain"] for e in examples)


def test_every_field_an_assessment_returns_is_documented(tmp_path: Path, openapi):
    # level_probs, asp_probability, missing_criteria, photos ... came back undocumented.
    from welfare.assess import Assessment
    from welfare.explain import Reason
    from welfare.rules import RuleCheck

    def documented(name: str) -> set[str]:
        return set(_schema(openapi, name)["properties"])

    fusion = small_fusion_model(tmp_path / "fusion")
    with started(tmp_path, fusion_dir=fusion) as service:
        service.create_family("F1")
        service.upload("F1", jpeg(1))
        made = service.client.post("/families/F1/assessments", headers=service.headers("admin"))
        assert made.status_code == 201, made.text
    body, result = made.json(), made.json()["result"]
    _conforms(openapi, "AssessmentOut", body)
    assert set(body) <= documented("AssessmentOut")
    assert set(result) - documented("AssessmentResult") == set()
    assert result["level_probs"] and result["reason_details"]  # a model's outcome, reasons
    for reason in result["reason_details"]:
        assert set(reason) <= documented("ReasonOut")
    for check in result["rule_checks"]:
        assert set(check) <= documented("RuleCheckOut")
    # What welfare writes for every assessment, not only this one.
    assert set(Assessment.__dataclass_fields__) <= documented("AssessmentResult")
    assert set(Reason.__dataclass_fields__) <= documented("ReasonOut")
    assert set(RuleCheck.__dataclass_fields__) <= documented("RuleCheckOut")


def test_levels_recommendations_and_stale_reasons_are_enumerated(openapi):
    from serving.assessments import STALE_REASONS
    from welfare.criteria import get_welfare_config
    from welfare.doubts import Recommendation

    levels = get_welfare_config().level_values
    for model, field in [
        ("AssessmentOut", "level"), ("AssessmentResult", "level"),
        ("AssessmentResult", "model_level"), ("DecisionOut", "model_level"),
        ("DecisionOut", "decided_level"), ("DecisionIn", "level"),
    ]:  # fmt: skip
        branch = _integer(_schema(openapi, model)["properties"][field])
        assert (branch.get("minimum"), branch.get("maximum")) == (min(levels), max(levels)), (
            model,
            field,
        )
    for model in ("AssessmentOut", "AssessmentResult"):
        asp = _schema(openapi, model)["properties"]["asp"]
        (branch,) = [b for b in asp.get("anyOf", [asp]) if b.get("type") == "string"]
        assert branch.get("enum") == list(get_args(Recommendation)), model
    stale = _schema(openapi, "AssessmentOut")["properties"]["stale_reason"]
    (branch,) = [b for b in stale["anyOf"] if b.get("type") == "string"]
    assert branch.get("enum") == list(STALE_REASONS)


def test_the_result_example_says_what_welfare_and_its_config_say(openapi):
    # It said "at least 3 needed" (configs/welfare.yaml asks 1) and opened its reasons with a
    # model reason, where the income test always comes first.
    from welfare.criteria import get_welfare_config
    from welfare.statements import Code

    example = _schema(openapi, "AssessmentResult")["examples"][0]
    required = get_welfare_config().recommendation.min_usable_photos
    assert [s["text"] for s in example["review_statements"]] == example["review_reasons"]
    assert [s["text"] for s in example["reason_statements"]] == example["reasons"]
    for statement in example["review_statements"] + example["reason_statements"]:
        assert statement["code"] in set(Code), statement
        if statement["code"] == Code.DOUBT_TOO_FEW_PHOTOS:
            assert statement["params"]["required"] == required
            assert statement["params"]["usable"] < required
    assert example["reason_statements"][0]["code"].startswith("rule.income_test.")


def test_descriptions_say_what_the_code_does(openapi):
    from serving.reuse_index import REUSE_DETAIL_ROLES

    # A decision's model_level is the assessment's level (the level-6 rule's included), not
    # the result's model_level; an accept takes that level.
    decision_in = _schema(openapi, "DecisionIn")["description"]
    assert "model's level" not in decision_in and "assessed level" in decision_in
    model_level = _schema(openapi, "DecisionOut")["properties"]["model_level"]
    assert "assessment's `level`" in model_level.get("description", "")
    # Every value level_source takes is explained, `none` included.
    source = _schema(openapi, "AssessmentResult")["properties"]["level_source"]
    (values,) = [b["enum"] for b in source["anyOf"] if "enum" in b]
    assert all(f"`{v}`" in source["description"] for v in values)
    # Reuse details go to some roles only; other roles get an empty list and the count.
    details = _schema(openapi, "ReuseOut")["properties"]["details"].get("description", "")
    assert all(role in details for role in REUSE_DETAIL_ROLES) and "empty" in details
    photo_id = _schema(openapi, "ReuseMatch")["properties"]["photo_id"]["description"]
    assert "region" in photo_id and "being filed" in photo_id


def test_every_schema_example_conforms_to_its_schema(openapi):
    with_examples = {n: s for n, s in openapi["components"]["schemas"].items() if "examples" in s}
    assert {"FamilyIn", "ScoreOut", "AssessmentResult", "DecisionIn"} <= set(with_examples)
    for name, schema in with_examples.items():
        for example in schema["examples"]:
            _conforms(openapi, name, example)
