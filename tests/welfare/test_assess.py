"""Recommendation bands and the Assessment: every doubt gives needs_review, never not_eligible."""

from __future__ import annotations

import json

import pytest

from tests.welfare.assess_helpers import doubts_of, inputs, photo
from tests.welfare.families_helpers import family
from tests.welfare.welfare_config_helpers import with_recommendation
from welfare.aggregate import PhotoFlags
from welfare.assess import assess, recommend
from welfare.schema import parse_family
from welfare.statements import Code


def band(config, taxonomy, p, **kwargs):
    """The band and the doubts' English texts."""
    outcome, doubts = recommend(**inputs(config, taxonomy, p, **kwargs))
    return outcome, [d.text for d in doubts]


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
        ({"photos": 0}, "0 usable photos"),
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


def test_each_doubt_carries_its_code_and_the_figures_behind_it(welfare_config, taxonomy):
    three = welfare_config.recommendation.model_copy(update={"min_usable_photos": 3})
    config = welfare_config.model_copy(update={"recommendation": three})
    flags = [PhotoFlags(reused=True), PhotoFlags("fail"), PhotoFlags("fail"), None]
    outcome, doubts = doubts_of(
        config, taxonomy, 0.4, photos=4, flags=flags, per_capita_income_kzt=None
    )
    assert outcome == "needs_review"
    said = {d.code: d.params for d in doubts}
    assert said == {
        Code.DOUBT_MISSING_CRITERION: {"criterion": "per_capita_income_kzt"},
        Code.DOUBT_TOO_FEW_PHOTOS: {"usable": 1, "required": 3},
        Code.DOUBT_FLAGGED_PHOTOS: {"flagged": 3, "total": 4},
        Code.DOUBT_REUSED_PHOTOS: {"reused": 1},
        Code.DOUBT_NEAR_BOUNDARY: {"probability": 0.4},
    }
    # The English sentences are the ones `recommend` gives, in the same order.
    assert [d.text for d in doubts] == band(
        config, taxonomy, 0.4, photos=4, flags=flags, per_capita_income_kzt=None
    )[1]
    assert next(d.text for d in doubts if d.code == Code.DOUBT_TOO_FEW_PHOTOS) == (
        "1 usable photo; at least 3 needed"
    )


def test_disagreement_doubts_name_what_disagrees(welfare_config, taxonomy):
    _, under = doubts_of(welfare_config, taxonomy, 0.02)  # income under the line
    assert [(d.code, d.params) for d in under] == [
        (Code.DOUBT_UNDER_LINE_MODEL_DISAGREES, {"probability": 0.02})
    ]
    rich = {"vehicles_owned": 2, "dwellings_owned": 2, "has_legal_entity": 1}
    _, level6 = doubts_of(welfare_config, taxonomy, 0.95, per_capita_income_kzt=400_000, **rich)
    assert {d.code for d in level6} == {
        Code.DOUBT_ABOVE_LINE_MODEL_DISAGREES,
        Code.DOUBT_LEVEL6_IN_NEED,
    }
    _, no_model = doubts_of(welfare_config, taxonomy, None, per_capita_income_kzt=500_000)
    assert [d.code for d in no_model] == [Code.DOUBT_NO_MODEL, Code.DOUBT_ABOVE_LINE_NO_MODEL]


def test_hidden_income_doubt_names_the_model_level(welfare_config, taxonomy):
    given = inputs(welfare_config, taxonomy, 0.9)  # income under the line; the model agrees
    _, doubts = recommend(**given, level=5)
    assert [(d.code, d.params) for d in doubts] == [(Code.DOUBT_HIDDEN_INCOME, {"level": 5})]


def test_a_model_that_says_eligible_above_the_line_is_not_called_hidden_income(
    welfare_config, taxonomy
):
    """Above the line the family is not eligible by declared income, so a model that says
    eligible while placing it high is the model disagreeing with itself: its own doubt."""
    given = inputs(welfare_config, taxonomy, 0.6, per_capita_income_kzt=200_000)
    _, doubts = recommend(**given, level=5)
    codes = [d.code for d in doubts]
    assert Code.DOUBT_HIDDEN_INCOME not in codes
    assert Code.DOUBT_MODEL_ELIGIBLE_HIGH_LEVEL in codes
    found = next(d for d in doubts if d.code == Code.DOUBT_MODEL_ELIGIBLE_HIGH_LEVEL)
    assert found.params == {"level": 5} and "declared income" not in found.text


def test_assessment_statements_match_its_sentences_and_survive_json(
    trained, welfare_config, taxonomy
):
    record = parse_family(family(welfare_config, bank_deposits_kzt=None), config=welfare_config)
    scores = [photo(taxonomy, "kitchen", 2)]
    result = assess(record, scores, model=trained["lgbm_fused"], config=welfare_config,
                    taxonomy=taxonomy)  # fmt: skip
    data = json.loads(json.dumps(result.to_dict()))
    assert [s["text"] for s in data["reason_statements"]] == result.reasons
    assert [s["text"] for s in data["review_statements"]] == result.review_reasons
    codes = [s["code"] for s in data["reason_statements"]]
    assert codes[0] == Code.RULE_INCOME_UNDER_LINE  # the rule that fired comes first
    assert codes[-1] == Code.REASON_MISSING_CRITERIA
    assert data["reason_statements"][-1]["params"] == {"criteria": ["bank_deposits_kzt"]}
    model_said = data["reason_statements"][1:-1]
    assert [s["params"]["feature"] for s in model_said] == [
        d["feature"] for d in data["reason_details"]
    ]
    for said, detail in zip(model_said, data["reason_details"], strict=True):
        assert said["code"] == detail["code"]
        towards = detail["contribution"] > 0
        if detail["target"] == "asp":
            assert said["code"] == (Code.REASON_ASP_TOWARDS if towards else Code.REASON_ASP_AWAY)
            assert "level" not in said["params"]
        else:
            assert said["code"] == (
                Code.REASON_LEVEL_SUPPORTS if towards else Code.REASON_LEVEL_AGAINST
            )
            assert said["params"]["level"] == result.level
    fired = [c for c in data["rule_checks"] if c["name"] == "asp_income_test"]
    assert fired[0]["code"] == Code.RULE_INCOME_UNDER_LINE


def test_model_eligible_cut_is_the_configured_one(tmp_path, taxonomy):
    # Bands 0.40 / 0.05 with the cut at the eligible band: P = 0.45 is eligible, and the
    # model agrees with an income under the line (a cut of 0.5 in code would send it to review).
    config = with_recommendation(
        tmp_path,
        eligible_min_probability=0.4,
        not_eligible_max_probability=0.05,
        model_eligible_cut=0.4,
    )
    assert band(config, taxonomy, 0.45) == ("eligible", [])
    # The cut moved above 0.5: P = 0.55 now disagrees with an income under the line ...
    config = with_recommendation(tmp_path, model_eligible_cut=0.6)
    assert Code.DOUBT_UNDER_LINE_MODEL_DISAGREES in {
        d.code for d in doubts_of(config, taxonomy, 0.55)[1]
    }
    # ... and with an income above it, P = 0.55 is no longer "the model says eligible".
    codes = {d.code for d in doubts_of(config, taxonomy, 0.55, per_capita_income_kzt=90_000)[1]}
    assert Code.DOUBT_ABOVE_LINE_MODEL_DISAGREES not in codes
    shipped = doubts_of(with_recommendation(tmp_path), taxonomy, 0.55, per_capita_income_kzt=90_000)
    assert Code.DOUBT_ABOVE_LINE_MODEL_DISAGREES in {d.code for d in shipped[1]}


def test_an_assessment_says_whether_its_model_reads_photos(trained, welfare_config, taxonomy):
    """A commission must know when photos could not move the level: a tabular-only model."""
    record = parse_family(family(welfare_config), config=welfare_config)
    scores = [photo(taxonomy, "kitchen", 2)]
    for name, uses in [("lgbm_tabular", False), ("lgbm_fused", True)]:
        result = assess(record, scores, model=trained[name], config=welfare_config,
                        taxonomy=taxonomy)  # fmt: skip
        assert result.model_uses_photos is uses
        assert result.to_dict()["model_uses_photos"] is uses
    no_model = assess(record, scores, model=None, config=welfare_config, taxonomy=taxonomy)
    assert no_model.model_uses_photos is None
