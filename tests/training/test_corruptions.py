"""Robustness corruptions: shape kept, deterministic for a seed, worse with severity."""

from __future__ import annotations

import numpy as np
import pytest

from training.corruptions import CORRUPTIONS, SEVERITIES


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corruption_grows_with_severity(name):
    rng = np.random.default_rng(0)
    base = np.kron(rng.integers(40, 216, size=(8, 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)
    corrupt = CORRUPTIONS[name]
    outs = [corrupt(base, s, 5) for s in SEVERITIES]
    assert all(o.shape == base.shape and o.dtype == np.uint8 for o in outs)
    assert np.array_equal(corrupt(base, 2, 5), outs[1])
    distances = [np.abs(o.astype(float) - base).mean() for o in outs]
    assert 0 < distances[0] < distances[1] < distances[2]
