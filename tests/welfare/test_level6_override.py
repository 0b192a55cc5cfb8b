"""The level-6 rule overriding the model: a doubt when they differ, reasons that say so.

Also the legal ground of every recommendation: the income test comes first in the reasons.
"""

from __future__ import annotations

import itertools

import pytest

from tests.welfare.assess_helpers import inputs, photo
from tests.welfare.families_helpers import family, make_families
from welfare.aggregate import FamilyVisual, PhotoFlags, RoomStats
from welfare.assess import assess, recommend
from welfare.dataset import build_family_data
from welfare.evaluation import outcomes
from welfare.rules import RulesOutcome
from welfare.schema import parse_family
from welfare.simulate import simulate_photos
from welfare.statements import Code

RICH = {"dwellings_owned": 2, "vehicles_owned": 2, "has_legal_entity": 1}


def high_income(config) -> float:
    """One tenge above the level-6 income criterion."""
    rule, thresholds = config.rules.level6, config.thresholds
    return rule.min_income_subsistence_minimums * thresholds.subsistence_minimum_kzt + 1


def test_rule_overriding_a_different_model_level_is_a_doubt(welfare_config, taxonomy):
    given = inputs(welfare_config, taxonomy, 0.02, per_capita_income_kzt=400_000, **RICH)
    assert given["rules"].level6 is True
    band, doubts = recommend(**given, level=6, model_level=5)
    assert band == "needs_review"
    assert [(d.code, d.params) for d in doubts] == [
        (Code.DOUBT_RULE_OVERRIDES_MODEL_LEVEL, {"level": 5})
    ]
    assert doubts[0].text == (
        "the level-6 rule sets level 6, but the model places the family at level 5"
    )
    assert recommend(**given, level=6, model_level=6) == ("not_eligible", [])


def test_no_override_doubt_without_the_rule_or_without_a_model(welfare_config, taxonomy):
    given = inputs(welfare_config, taxonomy, 0.02, per_capita_income_kzt=400_000)
    assert given["rules"].level6 is False
    assert recommend(**given, level=5, model_level=5) == ("not_eligible", [])
    rich = inputs(welfare_config, taxonomy, None, per_capita_income_kzt=400_000, **RICH)
    _, doubts = recommend(**rich, level=6, model_level=None)
    assert Code.DOUBT_RULE_OVERRIDES_MODEL_LEVEL not in {d.code for d in doubts}


def _visual(n_photos: int, n_usable: int) -> FamilyVisual:
    nan = float("nan")
    rooms = RoomStats(0, nan, nan, nan, {}, {})
    return FamilyVisual(n_photos, n_usable, n_photos - n_usable, 0, 0, 1.0, rooms)


PROTECTION = {"eligible": 0, "needs_review": 1, "not_eligible": 2}


def test_the_override_doubt_never_makes_the_recommendation_less_protective(welfare_config):
    """Where the rule fired: same band as before the doubt existed, or needs_review in place
    of not_eligible; never a band that offers less help or less human review."""
    config = welfare_config.recommendation
    grid = itertools.product(
        [True, False, None],  # income test
        [None, 0.0, 0.05, 0.1, 0.3, 0.5, 0.69, 0.7, 0.99],
        [None, 1, 3, 5, 6],  # the model's level
        [(0, 0), (1, 1), (3, 2)],
    )
    changed = 0
    for income, p, model_level, (n_photos, n_usable) in grid:
        rules = RulesOutcome(level6=True, income_test=income, checks=())
        missing = ["per_capita_income_kzt"] if income is None else []
        common = {
            "asp_probability": p,
            "rules": rules,
            "level": 6,
            "visual": _visual(n_photos, n_usable),
            "missing": missing,
            "config": config,
        }
        before, _ = recommend(**common)
        after, doubts = recommend(**common, model_level=model_level)
        assert (before, after) in {(before, before), ("not_eligible", "needs_review")}
        if after != before:
            changed += 1
            assert Code.DOUBT_RULE_OVERRIDES_MODEL_LEVEL in {d.code for d in doubts}
    assert changed > 0  # the doubt does reach families the bands alone sent to not_eligible


@pytest.fixture
def rich_record(welfare_config):
    data = family(welfare_config, per_capita_income_kzt=high_income(welfare_config), **RICH)
    return parse_family(data, config=welfare_config)


def test_assessment_says_the_rule_set_the_level_and_keeps_the_models(
    rich_record, trained, welfare_config, taxonomy
):
    model = trained["lgbm_fused"]
    # The case under test: the rule sets 6 where the model says less. Which photos make the
    # model say less depends on what it learned, so the poorest-looking of a few is taken.
    tried = (
        assess(
            rich_record,
            [photo(taxonomy, room=room, grade=grade)],
            model=model,
            config=welfare_config,
            taxonomy=taxonomy,
        )
        for grade in (1, 2, 3)
        for room in ("kitchen", "bathroom", "bedroom")
    )
    result = next((r for r in tried if r.model_level is not None and r.model_level < 6), None)
    assert result is not None, "the model places this rich family at 6 whatever its photos"
    assert (result.level, result.level_source) == (6, "rule")
    assert sum(result.level_probs.values()) == pytest.approx(1.0)  # still the model's
    codes = [s["code"] for s in result.reason_statements]
    assert codes[:2] == [Code.RULE_INCOME_AT_OR_ABOVE_LINE, Code.REASON_LEVEL_FROM_RULE]
    said = result.reason_statements[1]
    assert said["params"] == {
        "combine": "all",
        "met": ["dwellings_owned", "vehicles_owned", "per_capita_income_kzt", "has_legal_entity"],
    }
    assert "level-6 rule" in said["text"] and "not the model" in said["text"]
    # The model's level reasons stay, for the model's own level, which the doubt names.
    model_codes = {Code.REASON_LEVEL_SUPPORTS, Code.REASON_LEVEL_AGAINST}
    level_said = [s for s in result.reason_statements if s["code"] in model_codes]
    assert level_said and {s["params"]["level"] for s in level_said} == {result.model_level}
    assert result.asp == "needs_review"
    assert {
        "code": Code.DOUBT_RULE_OVERRIDES_MODEL_LEVEL.value,
        "params": {"level": result.model_level},
        "text": f"the level-6 rule sets level 6, but the model places the family at level "
        f"{result.model_level}",
    } in result.review_statements
    assert result.to_dict()["model_level"] == result.model_level


def test_evaluation_raises_the_same_doubt_as_assess(trained, welfare_config):
    table, planned = make_families(12, seed=21, config=welfare_config)
    table.loc[0, list(RICH)] = [float(v) for v in RICH.values()]
    table.loc[0, "per_capita_income_kzt"] = high_income(welfare_config)
    data = build_family_data(table, simulate_photos(planned, seed=22), config=welfare_config)
    model = trained["lgbm_fused"]
    frame = outcomes(model, data, config=welfare_config)
    model_level = int(model.predict(data.features).levels[0])
    assert data.rules[0].level6 is True and frame["level_pred"][0] == 6
    doubt = Code.DOUBT_RULE_OVERRIDES_MODEL_LEVEL.value in frame["review_codes"][0]
    assert doubt == (model_level != 6)
    assert not any(
        Code.DOUBT_RULE_OVERRIDES_MODEL_LEVEL.value in c for c in frame["review_codes"][1:]
    )


@pytest.mark.parametrize("with_model", [True, False])
def test_income_test_is_the_first_reason_with_its_figures(
    with_model, trained, welfare_config, taxonomy
):
    """A not_eligible rests on income at or above the poverty line: said first, with figures."""
    record = parse_family(
        family(welfare_config, per_capita_income_kzt=90_000), config=welfare_config
    )
    model = trained["lgbm_fused"] if with_model else None
    result = assess(
        record, [photo(taxonomy, grade=4)], model=model, config=welfare_config, taxonomy=taxonomy
    )
    if with_model:
        assert result.asp == "not_eligible"  # the case under test
    first = result.reason_statements[0]
    assert first["code"] == Code.RULE_INCOME_AT_OR_ABOVE_LINE
    thresholds = welfare_config.thresholds
    assert first["params"] == {
        "income_kzt": 90_000.0,
        "poverty_line_kzt": thresholds.poverty_line_kzt,
        "year": thresholds.year,
        "poverty_line_source": thresholds.poverty_line_source,
    }
    assert result.reasons[0] == (
        f"declared per-capita income 90,000 KZT is at or above the poverty line "
        f"{thresholds.poverty_line_kzt:,.0f} KZT ({thresholds.year})"
    )


def test_assessment_counts_the_flagged_photos_the_review_rule_weighs(welfare_config, taxonomy):
    record = parse_family(family(welfare_config), config=welfare_config)
    scores = [photo(taxonomy, "kitchen", sha="1"), photo(taxonomy, "not_dwelling", sha="2"),
              photo(taxonomy, "bedroom", sha="3")]  # fmt: skip
    result = assess(
        record, scores, model=None, photo_flags=[PhotoFlags("fail"), None, None],
        config=welfare_config, taxonomy=taxonomy,
    )  # fmt: skip
    assert result.photos["total"] == 3 and result.photos["usable"] == 1
    assert result.photos["flagged"] == 2  # one failed quality, one is not a dwelling
