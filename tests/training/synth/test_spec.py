"""Label sampling: the condition rule, and label rates inside the ranges the card states."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from training.synth.config import get_synth_config
from training.synth.photos import plan_photos
from training.synth.spec import condition_from, sample_spec, sign_probability

# The ranges datasets/cards/synthetic.md states for a stand-alone photo set.
CONDITION_SHARE = (0.10, 0.32)
SIGN_SHARE_IN_ROOMS = (0.10, 0.35)


@pytest.fixture(scope="module")
def plan(taxonomy):
    return [s for _, s in plan_photos(4000, seed=0, config=get_synth_config(), taxonomy=taxonomy)]


def test_condition_rule_follows_signs_and_wear(taxonomy):
    config = get_synth_config()
    clean = condition_from(config, frozenset(), 0.1, 0.0, taxonomy)
    worn = condition_from(config, frozenset(), 0.9, 0.0, taxonomy)
    broken = condition_from(config, frozenset({"structural_damage"}), 0.1, 0.0, taxonomy)
    lux = condition_from(config, frozenset({"premium_finishes"}), 0.05, 0.0, taxonomy)
    assert lux >= clean > worn
    assert broken < clean
    assert condition_from(config, frozenset(taxonomy.sign_names[:5]), 1.0, -3.0, taxonomy) == 1


def test_sign_probabilities_follow_welfare_and_rooms():
    config = get_synth_config()
    assert sign_probability(config, "damp_mould", "kitchen", 0.0) > sign_probability(
        config, "damp_mould", "kitchen", 1.0
    )
    assert sign_probability(config, "premium_finishes", "bedroom", 1.0) > sign_probability(
        config, "premium_finishes", "bedroom", 0.0
    )
    assert sign_probability(config, "overcrowding", "bathroom", 0.0) == 0.0


def test_condition_is_not_a_lookup_of_signs(plan):
    by_signs: dict[frozenset[str], set[int]] = {}
    for spec in plan:
        if spec.condition is not None:
            by_signs.setdefault(spec.signs, set()).add(spec.condition)
    assert len(by_signs[frozenset()]) >= 3  # wear and noise spread the no-sign photos


def test_condition_shares_within_the_card_ranges(plan, taxonomy):
    graded = [s.condition for s in plan if s.condition is not None]
    counts = Counter(graded)
    for grade in taxonomy.condition_values:
        share = counts[grade] / len(graded)
        assert CONDITION_SHARE[0] <= share <= CONDITION_SHARE[1], (grade, share)


def test_sign_shares_within_the_card_ranges(plan, taxonomy):
    config = get_synth_config()
    for sign in taxonomy.sign_names:
        eligible = [s for s in plan if s.room in config.signs[sign].rooms]
        share = np.mean([sign in s.signs for s in eligible])
        assert SIGN_SHARE_IN_ROOMS[0] <= share <= SIGN_SHARE_IN_ROOMS[1], (sign, share)
        assert all(sign not in s.signs for s in plan if s.room not in config.signs[sign].rooms)


def test_not_dwelling_specs_have_no_labels(plan, taxonomy):
    rng = np.random.default_rng(0)
    spec = sample_spec(
        get_synth_config(), taxonomy, rng, room=taxonomy.not_dwelling, style=1, welfare=0.1
    )
    assert spec.condition is None and spec.signs == frozenset()
    nd = [s for s in plan if s.room == taxonomy.not_dwelling]
    assert nd and all(s.condition is None and not s.signs for s in nd)


def test_styles_are_spread_and_independent_of_signs(plan):
    config = get_synth_config()
    styles = Counter(s.style for s in plan)
    assert set(styles) == set(range(config.photos.n_styles))
    rates = [
        np.mean(["premium_finishes" in s.signs for s in plan if s.style == k])
        for k in range(config.photos.n_styles)
    ]
    assert max(rates) - min(rates) < 0.3  # no style is a stand-in for a sign


def test_the_grade_does_not_depend_on_the_order_the_signs_come_in():
    """A set yields its signs in hash order, which differs between processes: a plain float sum
    of their weights can differ in its last bit and flip a grade that lands on .5."""
    import itertools

    from shanyraq.taxonomy import get_taxonomy
    from training.synth.config import get_synth_config
    from training.synth.spec import condition_from

    config, taxonomy = get_synth_config(), get_taxonomy()
    weights = config.condition.sign_weights
    orders_differ = 0
    for signs in itertools.combinations(sorted(weights), 3):
        orders = list(itertools.permutations(signs))
        if len({sum(weights[s] for s in order) for order in orders}) == 1:
            continue  # every order sums alike: nothing to tell apart here
        orders_differ += 1
        # Noise that puts the raw grade on a .5 boundary: base + noise + signs = k + 0.5.
        total = sum(weights[s] for s in signs)
        boundary = round(config.condition.base + total) + 0.5
        noise = boundary - config.condition.base - total
        for step in range(-4, 5):
            shifted = noise + step * math.ulp(noise)
            grades = {condition_from(config, order, 0.0, shifted, taxonomy) for order in orders}  # type: ignore[arg-type]
            assert len(grades) == 1, (signs, shifted, grades)
    assert orders_differ, "no sign triple whose float sum depends on the order: test the weights"
