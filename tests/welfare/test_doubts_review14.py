"""The commission is told why a family goes to review: the level-6 rule on a family in need is
a doubt with or without a model, and the flagged-photos doubt names every photo its count holds.
"""

from __future__ import annotations

import pytest

from serving.web.i18n import translator
from tests.welfare.assess_helpers import inputs, photo
from tests.welfare.families_helpers import family
from welfare.aggregate import aggregate
from welfare.assess import assess, recommend
from welfare.rules import evaluate_rules
from welfare.schema import parse_family
from welfare.statements import Code

RICH = {"dwellings_owned": 2, "vehicles_owned": 2, "has_legal_entity": 1}


@pytest.fixture
def any_rule_config(welfare_config):
    """`combine: any`: two dwellings fire the level-6 rule on a family under the poverty line."""
    level6 = welfare_config.rules.level6.model_copy(update={"combine": "any"})
    rules = welfare_config.rules.model_copy(update={"level6": level6})
    return welfare_config.model_copy(update={"rules": rules})


def _codes(doubts):
    return [d.code for d in doubts]


def test_level6_on_a_family_under_the_line_is_a_doubt_without_a_model(any_rule_config, taxonomy):
    record = parse_family(family(any_rule_config, dwellings_owned=2), config=any_rule_config)
    given = inputs(any_rule_config, taxonomy, None)
    given["rules"] = evaluate_rules(
        record, rules=any_rule_config.rules, thresholds=any_rule_config.thresholds
    )
    assert given["rules"].level6 is True and given["rules"].income_test is True
    band, doubts = recommend(**given, level=6, model_level=None)
    assert band == "needs_review"
    assert _codes(doubts).count(Code.DOUBT_LEVEL6_IN_NEED) == 1
    # The whole assessment, rules only: the reason reaches what the commission reads.
    result = assess(record, [], model=None, config=any_rule_config, taxonomy=taxonomy)
    assert (result.level, result.level_source, result.asp) == (6, "rule", "needs_review")
    codes = [s["code"] for s in result.review_statements]
    assert Code.DOUBT_LEVEL6_IN_NEED in codes and Code.DOUBT_NO_MODEL in codes
    assert "the level-6 rule fired on a family the income test or model finds in need" in (
        result.review_reasons
    )


def test_level6_in_need_is_listed_once_with_a_model(any_rule_config, taxonomy):
    record = parse_family(family(any_rule_config, dwellings_owned=2), config=any_rule_config)
    given = inputs(any_rule_config, taxonomy, 0.9)
    given["rules"] = evaluate_rules(
        record, rules=any_rule_config.rules, thresholds=any_rule_config.thresholds
    )
    _, doubts = recommend(**given, level=6, model_level=2)
    assert _codes(doubts).count(Code.DOUBT_LEVEL6_IN_NEED) == 1


def test_level6_above_the_line_without_a_model_is_not_called_in_need(welfare_config, taxonomy):
    """Nobody finds the family in need: income above the line and no model to say otherwise."""
    given = inputs(welfare_config, taxonomy, None, per_capita_income_kzt=400_000, **RICH)
    assert given["rules"].level6 is True and given["rules"].income_test is False
    _, doubts = recommend(**given, level=6, model_level=None)
    assert Code.DOUBT_LEVEL6_IN_NEED not in _codes(doubts)
    assert Code.DOUBT_ABOVE_LINE_NO_MODEL in _codes(doubts)


def test_flagged_photos_doubt_names_not_a_home_photos_it_counts(welfare_config, taxonomy):
    """Two of three photos are not of a home: nothing abstained, failed or was reused, so the
    doubt's words must cover what its count holds."""
    scores = [photo(taxonomy, sha="k")] + [
        photo(taxonomy, room=taxonomy.not_dwelling, sha=str(i)) for i in range(2)
    ]
    visual = aggregate(scores, expected_rooms=["kitchen"], taxonomy=taxonomy)
    assert (visual.n_flagged, visual.n_abstained, visual.n_quality_failed, visual.n_reused) == (
        2,
        0,
        0,
        0,
    )
    given = inputs(welfare_config, taxonomy, 0.95) | {"visual": visual}
    band, doubts = recommend(**given)
    assert band == "needs_review"
    flagged = next(d for d in doubts if d.code == Code.DOUBT_FLAGGED_PHOTOS)
    assert flagged.params == {"flagged": 2, "total": 3}
    assert flagged.text == (
        "2 of 3 photos not used: abstained, failed quality, reused from another family, a "
        "repeat of an earlier photo of the family, or not a photo of a home"
    )
    # The page reads the catalogue's words, in every language: each names not-a-home photos.
    said = {
        language: translator(language).statement(flagged.to_dict())
        for language in ("en", "ru", "kk")
    }
    assert "not a photo of a home" in said["en"]
    assert "не фото жилья" in said["ru"]
    assert "тұрғын үйдің фотосы емес" in said["kk"]
