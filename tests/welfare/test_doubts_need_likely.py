"""Above the poverty line, yet need is likely: the model's probability of the levels of need
sends the family to review, not only its most likely level, which one more dependant or a
little less income tips from 2 to 3 while the chance of need hardly moves."""

from __future__ import annotations

import pytest

from shanyraq.errors import ConfigError
from tests.welfare.assess_helpers import inputs, photo
from tests.welfare.families_helpers import make_families
from tests.welfare.welfare_config_helpers import with_recommendation
from welfare.assess import assess, recommend
from welfare.evaluation import outcomes
from welfare.schema import parse_family
from welfare.simulate import simulate_photos
from welfare.statements import Code

# The codes are the stable contract the catalogues and stored assessments key on.
NEED_LIKELY = "doubt.above_line_need_likely"
NEED_DOUBTS = {Code.DOUBT_ABOVE_LINE_LEVEL_IN_NEED.value, NEED_LIKELY}


def _needy(config) -> int:
    """The highest level the recommendation treats as need (1 .. this)."""
    return config.recommendation.review_if_not_eligible_and_level_at_most


def _cut(config) -> float:
    return config.recommendation.review_if_not_eligible_and_need_probability_at_least


def _above_line(config) -> float:
    return config.thresholds.poverty_line_kzt + 3_000


def _split(config, chance: float) -> dict[int, float]:
    """`chance` on the highest level of need, the rest on the level above it."""
    probs = dict.fromkeys(config.level_values, 0.0)
    probs[_needy(config)] = chance
    probs[_needy(config) + 1] = 1 - chance
    return probs


def _given(config, taxonomy):
    return inputs(config, taxonomy, 0.0, per_capita_income_kzt=_above_line(config))


def test_a_near_tie_above_the_level_of_need_goes_to_review(welfare_config, taxonomy):
    # The review's fam-707-000998: P(2) = 0.488, P(3) = 0.507, most likely level 3, and
    # P(eligible) near 0: recommended not_eligible with no review before.
    given = _given(welfare_config, taxonomy)
    above = _needy(welfare_config) + 1
    probs = _split(welfare_config, 0.488)
    band, doubts = recommend(**given, level=above, model_level=above, level_probs=probs)
    assert band == "needs_review"
    assert [(d.code, d.params) for d in doubts] == [
        (
            NEED_LIKELY,
            {"probability": pytest.approx(0.488), "level": _needy(welfare_config)},
        )
    ]
    assert f"P(level <= {_needy(welfare_config)}) = 0.49" in doubts[0].text


@pytest.mark.parametrize(("above_cut", "expected"), [(0.0, "needs_review"), (-0.01, None)])
def test_the_configured_chance_of_need_is_the_cut(welfare_config, taxonomy, above_cut, expected):
    given = _given(welfare_config, taxonomy)
    above = _needy(welfare_config) + 1
    probs = _split(welfare_config, _cut(welfare_config) + above_cut)
    band, doubts = recommend(**given, level=above, model_level=above, level_probs=probs)
    assert band == (expected or "not_eligible")
    assert bool(doubts) == (expected is not None)


def test_every_level_of_need_counts_towards_the_chance(welfare_config, taxonomy):
    """Spread over levels 1 and 2, each below the cut, together above it."""
    given = _given(welfare_config, taxonomy)
    cut, needy = _cut(welfare_config), _needy(welfare_config)
    probs = dict.fromkeys(welfare_config.level_values, 0.0)
    for value in range(1, needy + 1):
        probs[value] = cut / needy * 1.01
    probs[needy + 1] = 1 - sum(probs.values())
    band, doubts = recommend(**given, level=needy + 1, model_level=needy + 1, level_probs=probs)
    assert band == "needs_review"
    assert doubts[0].params["probability"] == pytest.approx(cut * 1.01)


def test_a_most_likely_level_of_need_keeps_its_own_doubt_alone(welfare_config, taxonomy):
    given = _given(welfare_config, taxonomy)
    needy = _needy(welfare_config)
    probs = _split(welfare_config, 0.9)
    _, doubts = recommend(**given, level=needy, model_level=needy, level_probs=probs)
    assert [d.code for d in doubts] == [Code.DOUBT_ABOVE_LINE_LEVEL_IN_NEED]


@pytest.mark.parametrize("income", [10_000, None])
def test_no_need_doubt_under_the_line_or_with_income_unknown(welfare_config, taxonomy, income):
    given = inputs(welfare_config, taxonomy, 0.9, per_capita_income_kzt=income)
    above = _needy(welfare_config) + 1
    probs = _split(welfare_config, 0.9)
    _, doubts = recommend(**given, level=above, model_level=above, level_probs=probs)
    assert not NEED_DOUBTS & {d.code for d in doubts}


def test_without_the_cut_the_most_likely_level_alone_decides(tmp_path, taxonomy):
    config = with_recommendation(
        tmp_path, review_if_not_eligible_and_need_probability_at_least=None
    )
    given = _given(config, taxonomy)
    above = _needy(config) + 1
    probs = _split(config, 0.488)
    assert recommend(**given, level=above, model_level=above, level_probs=probs) == (
        "not_eligible",
        [],
    )


@pytest.mark.parametrize("cut", [0, 1.5])
def test_a_cut_that_is_no_probability_is_refused(tmp_path, cut):
    key = "review_if_not_eligible_and_need_probability_at_least"
    assert getattr(with_recommendation(tmp_path, **{key: 0.3}).recommendation, key) == 0.3
    with pytest.raises(ConfigError, match=key):
        with_recommendation(tmp_path, **{key: cut})


def _changed(record, config, **criteria):
    data = record.model_dump(mode="json")
    data["criteria"] = {**data["criteria"], **criteria}
    return parse_family(data, config=config)


def test_a_trained_model_never_gives_not_eligible_while_need_is_likely(
    trained, family_data, welfare_config, taxonomy
):
    """The review's probe: held-out families moved above the line, with and without one more
    child, are never not_eligible while P(level of need) reaches the cut; some of them have a
    most likely level above need (the families the old doubt let through)."""
    model = trained["lgbm_tabular"]
    cut, needy = _cut(welfare_config), _needy(welfare_config)
    scores = [photo(taxonomy, room, 3, sha=room) for room in ("kitchen", "bedroom", "bathroom")]
    line = welfare_config.thresholds.poverty_line_kzt
    let_through = 0
    for record in family_data.records[700:800]:
        total, children = record.number("members_total"), record.number("children_under_18")
        for income in (line + 1, line + 5_000):
            variants = [_changed(record, welfare_config, per_capita_income_kzt=income)]
            if total is not None and children is not None and total < 30:
                variants.append(
                    _changed(
                        record,
                        welfare_config,
                        per_capita_income_kzt=income,
                        members_total=total + 1,
                        children_under_18=children + 1,
                    )
                )
            for changed in variants:
                result = assess(
                    changed, scores, model=model, config=welfare_config, taxonomy=taxonomy
                )
                chance = sum(p for value, p in result.level_probs.items() if value <= needy)
                if chance < cut:
                    continue
                assert result.asp == "needs_review", (record.family_id, income, chance)
                codes = {s["code"] for s in result.review_statements}
                assert codes & NEED_DOUBTS, (record.family_id, income, codes)
                let_through += result.model_level > needy
    assert let_through > 0


def test_the_report_counts_the_doubt_as_an_assessment_gives_it(
    trained, family_data, welfare_config, taxonomy
):
    """`welfare evaluate` (batch outcomes) weighs the same level probabilities as `assess`."""
    model = trained["lgbm_tabular"]
    _, planned = make_families(900, seed=3, config=welfare_config)
    photos = simulate_photos(planned, seed=4)  # as the family_data fixture simulates them
    held_out = family_data.subset(range(700, 900))
    batch = outcomes(model, held_out, config=welfare_config)
    found = 0
    for record, (_, row) in zip(held_out.records, batch.iterrows(), strict=True):
        taken = photos.get(record.family_id, [])
        result = assess(
            record,
            [p.score for p in taken],
            model=model,
            photo_flags=[p.flags for p in taken],
            config=welfare_config,
            taxonomy=taxonomy,
        )
        assert row["asp"] == result.asp, record.family_id
        assert row["review_codes"] == [s["code"] for s in result.review_statements]
        found += NEED_LIKELY in row["review_codes"]
    assert found > 0
