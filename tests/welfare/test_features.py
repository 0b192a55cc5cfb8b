"""Derived features: money against the subsistence minimum, tallies, pooled photo evidence."""

from __future__ import annotations

import math

import pytest

from shanyraq.errors import ConfigError
from shanyraq.taxonomy import get_taxonomy
from tests.welfare.aggregate_helpers import EXPECTED, sure_score
from tests.welfare.families_helpers import family
from welfare.aggregate import aggregate
from welfare.criteria import get_welfare_config
from welfare.features import (
    DERIVED_TABULAR,
    DERIVED_VISUAL,
    REASON_SOURCE,
    family_features,
    feature_space,
)
from welfare.schema import FamilyRecordError, parse_family


def _features(visual=None, **criteria):
    config, taxonomy = get_welfare_config(), get_taxonomy()
    record = parse_family(family(config, **criteria))
    space = feature_space(config, taxonomy)
    return family_features(record, visual, space=space, config=config, taxonomy=taxonomy)


def test_money_is_measured_in_subsistence_minimums():
    minimum = get_welfare_config().thresholds.subsistence_minimum_kzt
    out = _features(per_capita_income_kzt=2 * minimum, members_total=3.0, bank_deposits_kzt=0.0)
    assert out["income_subsistence_multiple"] == 2.0
    assert out["household_income_subsistence_multiple"] == 6.0
    assert out["deposits_subsistence_months"] == 0.0
    assert out["working_share"] == 1 / 3


def test_tallies_count_known_values_and_missing_stays_missing():
    out = _features(dwellings_owned=1.0, vehicles_owned=2.0, has_legal_entity=None)
    assert out["registered_assets"] == 3.0
    out = _features(informal_employment_signs=1.0, foreign_trips_12m=3.0, large_purchases_12m_kzt=0)
    assert out["hidden_income_signs"] == 2.0
    assert math.isnan(_features(bank_deposits_kzt=None)["deposits_subsistence_months"])


def test_photo_evidence_is_pooled_by_what_signs_point_to():
    taxonomy = get_taxonomy()
    assert math.isnan(_features()["vis_need_signs"])  # no photos: no evidence, not zero
    poor = [
        sure_score(taxonomy, "kitchen", 2, signs={"damp_mould": 1.0, "solid_fuel_stove": 1.0}),
        sure_score(taxonomy, "bedroom", 2, signs={"damp_mould": 1.0}),
    ]
    rich = [sure_score(taxonomy, "kitchen", 5, signs={"premium_appliances": 1.0})] * 2
    out_poor = _features(aggregate(poor, expected_rooms=EXPECTED, taxonomy=taxonomy))
    out_rich = _features(aggregate(rich, expected_rooms=EXPECTED, taxonomy=taxonomy))
    assert out_poor["vis_need_signs"] == 1.5 and out_poor["vis_need_evidence"] == 3.0
    assert out_poor["vis_welfare_signs"] == 0.0
    assert out_rich["vis_welfare_evidence"] == 2.0
    # Same declared income, better-looking home: the gap to the income grows.
    assert out_rich["vis_home_vs_income"] > out_poor["vis_home_vs_income"]


def test_derived_names_are_in_the_space_with_words():
    space = feature_space(get_welfare_config(), get_taxonomy())
    for name in [*DERIVED_TABULAR, *DERIVED_VISUAL]:
        assert name in space.names(with_visual=True)
        assert space.is_visual(name) is (name in DERIVED_VISUAL)
        assert "_" not in space.words[name]


def test_a_figure_joins_a_criterions_reason_only_if_computed_from_it_alone():
    """Reasons credit a derived figure to its source criterion: no other input may move it."""
    config = get_welfare_config()
    numeric = [c.name for c in config.criteria if c.kind != "category"]
    base = {"bank_deposits_kzt": 100_000.0, "large_purchases_12m_kzt": 2_000_000.0}
    before = _features(**base)
    for figure, source in REASON_SOURCE.items():
        assert _features(**{**base, source: 2 * (before[source] or 1.0)})[figure] != before[figure]
        moved = []
        for name in numeric:
            try:
                changed = _features(**{**base, name: before[name] + 1})
            except FamilyRecordError:  # a value this record cannot hold (a share above 1, ...)
                continue
            moved += [name] if changed[figure] != before[figure] else []
        assert moved == [source], figure


def test_household_figures_depend_on_family_size_and_say_so():
    """Not restatements of income, deposits or purchases: family size moves them too."""
    space = feature_space(get_welfare_config(), get_taxonomy())
    money = {"bank_deposits_kzt": 100_000.0, "large_purchases_12m_kzt": 2_000_000.0}
    small, large = _features(members_total=2.0, **money), _features(members_total=6.0, **money)
    for figure in ("household_income_subsistence_multiple", "deposits_subsistence_months",
                   "purchases_to_annual_income"):  # fmt: skip
        assert small[figure] != large[figure]
        assert figure not in REASON_SOURCE
        assert "family size" in space.words[figure]


@pytest.mark.parametrize("room", ["mean", "min", "max"])
def test_a_room_named_like_an_overall_condition_feature_is_refused(room):
    """Review 22: a room named mean, min or max made vis_condition_<room>, which silently
    replaced the overall condition feature of that name (a dict key written twice)."""
    taxonomy = get_taxonomy()
    classes = [*taxonomy.room.classes]
    classes[0] = classes[0].model_copy(update={"name": room})
    renamed = taxonomy.model_copy(
        update={"room": taxonomy.room.model_copy(update={"classes": classes})}
    )
    with pytest.raises(ConfigError, match=rf"room '{room}' .*vis_condition_{room}"):
        feature_space(get_welfare_config(), renamed)
