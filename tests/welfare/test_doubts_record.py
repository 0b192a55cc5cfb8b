"""Doubts the record itself raises, whatever level the model gives: too many criteria missing
for any level to rest on, and money on record that declared income cannot account for."""

from __future__ import annotations

import pytest

from shanyraq.errors import ConfigError
from tests.welfare.assess_helpers import inputs, photo
from tests.welfare.families_helpers import family
from tests.welfare.welfare_config_helpers import with_recommendation
from welfare.assess import assess, recommend
from welfare.schema import parse_family
from welfare.statements import Code

KEEP = ("per_capita_income_kzt", "members_total")
# The codes are the stable contract the catalogues and stored assessments key on.
MANY_MISSING = "doubt.many_missing_criteria"
HIDDEN_MONEY = "doubt.hidden_income_money"
# The review's probe: no declared income, 10 billion KZT on deposit and as much spent.
BILLIONS = {
    "per_capita_income_kzt": 0.0,
    "bank_deposits_kzt": 1e10,
    "large_purchases_12m_kzt": 1e10,
}


def _most_missing(config) -> int:
    return config.recommendation.review_if_missing_more_than


def _years_cut(config) -> float:
    return config.recommendation.review_if_eligible_and_money_years_at_least


def _blank(config, n: int) -> dict[str, None]:
    """`n` criteria set missing, never income or family size (they have their own doubt)."""
    names = [c.name for c in config.criteria if c.name not in KEEP]
    return dict.fromkeys(names[:n])


def _codes(doubts) -> list[Code]:
    return [d.code for d in doubts]


# --- too many criteria missing -------------------------------------------------------------


def test_a_record_of_income_and_family_size_alone_goes_to_review(welfare_config, taxonomy):
    """The review's probe: 21 of 23 criteria missing, a model sure of itself, no doubt."""
    blank = _blank(welfare_config, len(welfare_config.criteria))
    for p in (0.99, 0.01):  # eligible and not_eligible by the model
        band, doubts = recommend(**inputs(welfare_config, taxonomy, p, **blank), level=3)
        assert band == "needs_review"
        many = [d for d in doubts if d.code == MANY_MISSING]
        assert [d.params for d in many] == [
            {"missing": len(blank), "maximum": _most_missing(welfare_config)}
        ]
        assert f"{len(blank)} criteria are missing" in many[0].text


@pytest.mark.parametrize(("extra", "doubted"), [(0, False), (1, True)])
def test_the_configured_count_of_gaps_is_allowed(welfare_config, taxonomy, extra, doubted):
    blank = _blank(welfare_config, _most_missing(welfare_config) + extra)
    band, doubts = recommend(**inputs(welfare_config, taxonomy, 0.99, **blank), level=2)
    assert (MANY_MISSING in _codes(doubts)) is doubted
    assert band == ("needs_review" if doubted else "eligible")


def test_the_count_can_be_turned_off(tmp_path, taxonomy):
    config = with_recommendation(tmp_path, review_if_missing_more_than=None)
    blank = _blank(config, len(config.criteria))
    assert recommend(**inputs(config, taxonomy, 0.99, **blank), level=2) == ("eligible", [])


def test_a_count_no_record_can_exceed_is_refused(tmp_path, welfare_config):
    with pytest.raises(ConfigError, match=r"review_if_missing_more_than .* can never be exceeded"):
        with_recommendation(tmp_path, review_if_missing_more_than=len(welfare_config.criteria))


def _doubts_by_model(trained, config, taxonomy, **criteria) -> list[dict[str, dict]]:
    """Each trained LightGBM model's assessment of the family: its doubts (code: params), with
    every one of them sending the family to review."""
    record = parse_family(family(config, **criteria), config=config)
    scores = [photo(taxonomy, room, 2, sha=room) for room in ("kitchen", "bedroom")]
    out = []
    for name in ("lgbm_tabular", "lgbm_fused"):
        result = assess(record, scores, model=trained[name], config=config, taxonomy=taxonomy)
        assert result.asp == "needs_review", name
        out.append({s["code"]: s["params"] for s in result.review_statements})
    return out


def test_an_assessment_of_a_sparse_record_goes_to_review(trained, welfare_config, taxonomy):
    blank = _blank(welfare_config, len(welfare_config.criteria))
    for doubts in _doubts_by_model(trained, welfare_config, taxonomy, **blank):
        assert doubts[MANY_MISSING]["missing"] == len(blank)


# --- money on record that declared income does not account for ------------------------------


def _money_for(config, years: float, members: float = 3.0) -> float:
    """Deposits worth `years` of the household's subsistence minimum."""
    return years * 12 * members * config.thresholds.subsistence_minimum_kzt


def test_money_on_record_in_years_of_the_household_minimum(welfare_config):
    from welfare.rules import money_on_record

    minimum = welfare_config.thresholds.subsistence_minimum_kzt
    record = parse_family(
        family(
            welfare_config,
            members_total=4.0,
            bank_deposits_kzt=1e10,
            large_purchases_12m_kzt=2e9,
        ),
        config=welfare_config,
    )
    money = money_on_record(record, welfare_config.thresholds)
    assert money is not None
    assert money.amount_kzt == 1.2e10
    assert money.years == pytest.approx(1.2e10 / (12 * 4 * minimum))


def test_a_gap_adds_nothing_and_no_money_on_record_is_no_figure(welfare_config):
    from welfare.rules import money_on_record

    one = family(welfare_config, bank_deposits_kzt=None, large_purchases_12m_kzt=5e6)
    money = money_on_record(parse_family(one, config=welfare_config), welfare_config.thresholds)
    assert money is not None and money.amount_kzt == 5e6
    none = family(welfare_config, bank_deposits_kzt=None, large_purchases_12m_kzt=None)
    record = parse_family(none, config=welfare_config)
    assert money_on_record(record, welfare_config.thresholds) is None


def test_billions_on_record_with_income_zero_go_to_review_at_level_1(welfare_config, taxonomy):
    """The review's probe: income 0, deposits and purchases of 10 billion KZT, the model sure
    of eligibility at level 1: recommended eligible with no doubt before."""
    given = inputs(welfare_config, taxonomy, 0.999, **BILLIONS)
    band, doubts = recommend(**given, level=1, model_level=1)
    assert band == "needs_review"
    assert _codes(doubts) == [HIDDEN_MONEY]
    assert doubts[0].params["amount_kzt"] == 2e10
    assert doubts[0].params["years"] >= _years_cut(welfare_config)
    assert "possible hidden income" in doubts[0].text


@pytest.mark.parametrize(("share", "doubted"), [(0.99, False), (1.0, True)])
def test_the_configured_years_are_the_cut(welfare_config, taxonomy, share, doubted):
    deposits = _money_for(welfare_config, _years_cut(welfare_config) * share)
    given = inputs(welfare_config, taxonomy, 0.999, bank_deposits_kzt=deposits)
    band, doubts = recommend(**given, level=1, model_level=1)
    assert (band, bool(doubts)) == (("needs_review", True) if doubted else ("eligible", False))


def test_money_alone_is_no_doubt_above_the_line_or_when_turned_off(tmp_path, taxonomy):
    config = with_recommendation(tmp_path)
    plenty = _money_for(config, 100 * _years_cut(config))
    above = inputs(config, taxonomy, 0.01, per_capita_income_kzt=90_000, bank_deposits_kzt=plenty)
    assert recommend(**above, level=5, model_level=5) == ("not_eligible", [])
    off = with_recommendation(tmp_path, review_if_eligible_and_money_years_at_least=None)
    under = inputs(off, taxonomy, 0.999, bank_deposits_kzt=plenty)
    assert recommend(**under, level=1, model_level=1) == ("eligible", [])


def test_an_assessment_with_billions_on_record_goes_to_review(trained, welfare_config, taxonomy):
    for doubts in _doubts_by_model(trained, welfare_config, taxonomy, **BILLIONS):
        assert doubts[HIDDEN_MONEY]["amount_kzt"] == 2e10
