"""Recommendation bands and the Assessment: every doubt gives needs_review, never not_eligible."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vision.score import PhotoScore
from welfare.aggregate import PhotoFlags, aggregate
from welfare.assess import assess, recommend
from welfare.rules import evaluate_rules
from welfare.schema import parse_family

from .conftest import family


def photo(taxonomy, room="kitchen", grade=3, sha="a") -> PhotoScore:
    rooms = {r: (0.95 if r == room else 0.01) for r in taxonomy.room_names}
    grades = {g: (0.9 if g == grade else 0.025) for g in taxonomy.condition_values}
    return PhotoScore(
        sha, "vision-1", rooms, grades, dict.fromkeys(taxonomy.sign_names, 0.05), np.zeros(0)
    )


def band(config, taxonomy, p, *, photos=1, flags=None, **criteria):
    record = parse_family(family(config, **criteria), config=config)
    rules = evaluate_rules(record, rules=config.rules, thresholds=config.thresholds)
    scores = [photo(taxonomy, sha=str(i)) for i in range(photos)]
    visual = aggregate(scores, flags=flags, expected_rooms=["kitchen"], taxonomy=taxonomy)
    return recommend(
        asp_probability=p,
        rules=rules,
        visual=visual,
        missing=record.missing,
        config=config.recommendation,
    )


def test_confident_model_agreeing_with_income_test(welfare_config, taxonomy):
    assert band(welfare_config, taxonomy, 0.95) == ("eligible", [])
    assert band(welfare_config, taxonomy, 0.02, per_capita_income_kzt=90_000) == (
        "not_eligible",
        [],
    )


@pytest.mark.parametrize("p", [0.11, 0.5, 0.69])
def test_probability_near_the_boundary_goes_to_review(welfare_config, taxonomy, p):
    outcome, doubts = band(
        welfare_config, taxonomy, p, per_capita_income_kzt=90_000 if p < 0.5 else 20_000
    )
    assert outcome == "needs_review"
    assert any("near the boundary" in d for d in doubts)


def test_rules_and_model_disagreeing_goes_to_review(welfare_config, taxonomy):
    outcome, doubts = band(welfare_config, taxonomy, 0.02)  # income under the line
    assert outcome == "needs_review"
    assert any("under the poverty line but the model" in d for d in doubts)
    rich = {"vehicles_owned": 2, "dwellings_owned": 2, "has_legal_entity": 1}
    outcome, doubts = band(welfare_config, taxonomy, 0.95, per_capita_income_kzt=400_000, **rich)
    assert outcome == "needs_review"
    assert any("level-6 rule fired" in d for d in doubts)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"photos": 0}, "0 usable photo(s)"),
        ({"photos": 2, "flags": [PhotoFlags(reused=True), None]}, "reused from another family"),
        ({"photos": 3, "flags": [PhotoFlags("fail"), PhotoFlags("fail"), None]}, "failed quality"),
        ({"per_capita_income_kzt": None}, "per_capita_income_kzt is missing"),
    ],
)
def test_missing_or_flagged_inputs_go_to_review(welfare_config, taxonomy, kwargs, words):
    outcome, doubts = band(welfare_config, taxonomy, 0.01, **kwargs)
    assert outcome == "needs_review"
    assert any(words in d for d in doubts)


def test_without_a_model_never_not_eligible(welfare_config, taxonomy):
    assert band(welfare_config, taxonomy, None)[0] == "needs_review"  # doubt: no model
    outcome, doubts = band(welfare_config, taxonomy, None, per_capita_income_kzt=500_000)
    assert outcome == "needs_review"
    assert any("no model" in d for d in doubts)


def test_assessment_with_model_is_complete_and_json(trained, welfare_config, taxonomy):
    record = parse_family(family(welfare_config, bank_deposits_kzt=None), config=welfare_config)
    scores = [photo(taxonomy, room, 2, sha=room) for room in ("kitchen", "bedroom", "bathroom")]
    model = trained["lgbm_fused"]
    result = assess(record, scores, model=model, config=welfare_config, taxonomy=taxonomy)
    assert result.level in range(1, 7)
    assert result.level_source == "model"
    assert sum(result.level_probs.values()) == pytest.approx(1.0)
    assert result.asp in ("eligible", "not_eligible", "needs_review")
    assert 0 < result.asp_probability < 1
    assert "asp_income_test" in result.rules_fired
    assert "Missing in the record: bank_deposits_kzt" in result.reasons
    assert len(result.reason_details) == 2 * welfare_config.recommendation.top_reasons
    assert result.model_versions == {"fusion": model.meta.version, "vision": "vision-1"}
    data = json.loads(json.dumps(result.to_dict()))
    assert data["advisory"].startswith("Advisory only")
    again = assess(record, scores, model=model, config=welfare_config, taxonomy=taxonomy)
    assert again.input_hash == result.input_hash
    other = assess(record, scores[:2], model=model, config=welfare_config, taxonomy=taxonomy)
    assert other.input_hash != result.input_hash


def test_level6_rule_sets_the_level_and_is_listed(trained, welfare_config, taxonomy):
    record = parse_family(
        family(
            welfare_config,
            per_capita_income_kzt=400_000,
            dwellings_owned=3,
            vehicles_owned=2,
            has_legal_entity=1,
        ),
        config=welfare_config,
    )
    result = assess(
        record,
        [photo(taxonomy, grade=5)],
        model=trained["rf_fused"],
        config=welfare_config,
        taxonomy=taxonomy,
    )
    assert (result.level, result.level_source) == (6, "rule")
    assert {"level6", "level6.dwellings_owned"} <= set(result.rules_fired)
    assert any("level-6 rule" in r for r in result.reasons)
