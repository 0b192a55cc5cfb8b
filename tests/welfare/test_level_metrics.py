"""Level metrics of a subset of families: macro-F1 over the levels the subset has or was given."""

from __future__ import annotations

import numpy as np
import pytest

from welfare.evaluation import level_metrics

LEVELS = [1, 2, 3, 4, 5, 6]


def test_a_level_no_family_of_the_subset_has_or_was_given_does_not_count():
    # Hidden-income families at levels 2-3 only, every one right: macro-F1 1, not 2/6.
    truth = np.array([2, 2, 3, 3])
    metrics = level_metrics(truth, truth.copy(), LEVELS)
    assert metrics["macro_f1"] == pytest.approx(1.0)
    assert metrics["accuracy"] == 1.0


def test_a_level_given_to_a_family_of_another_counts_as_a_miss():
    truth = np.array([2, 2, 3, 3])
    given = np.array([2, 2, 3, 4])  # level 4 given once, no family of level 4: F1 0 there
    f1 = level_metrics(truth, given, LEVELS)["macro_f1"]
    assert f1 == pytest.approx(np.mean([1.0, 2 * 1 / (1 + 2), 0.0]))
    assert len(level_metrics(truth, given, LEVELS)["confusion"]) == len(LEVELS)
