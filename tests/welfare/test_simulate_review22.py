"""Review 22 of welfare/simulate.py: a NoiseModel it accepts never gives a score the engine
could not give (NaN probabilities on a score that does not abstain)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.welfare.families_helpers import Planned
from welfare.simulate import NoiseModel, simulate_photo

INF = float("inf")


@pytest.mark.parametrize(
    "figures",
    [
        # Before: accepted, and every condition probability came out NaN on a score that did
        # not abstain (the engine abstains on any NaN).
        {"condition_jitter": INF},
        {"condition_width_low": 1e-200, "condition_width_high": 1e-200},
        # Before: accepted, then every photo raised OverflowError from rng.uniform.
        {"condition_width_high": INF},
    ],
)
def test_noise_model_refuses_figures_that_make_nan_or_crash(figures):
    with pytest.raises(ValueError, match="NoiseModel"):
        NoiseModel(**figures)


def test_narrowest_accepted_width_still_gives_valid_condition_probabilities():
    noise = NoiseModel(condition_width_low=1e-3, condition_width_high=1e-3)
    rng = np.random.default_rng(0)
    for grade in (1, 3, 5):
        photo = Planned("f", "kitchen", grade, frozenset(), 0, True, None)
        for i in range(50):
            condition = simulate_photo(photo, index=i, rng=rng, noise=noise).score.condition
            assert all(math.isfinite(p) and 0 <= p <= 1 for p in condition.values())
            assert sum(condition.values()) == pytest.approx(1.0)
