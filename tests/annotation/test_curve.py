"""The learning-curve experiment: runs end to end on a small hand-made pool, never labels a copy."""

from __future__ import annotations

import numpy as np
import pytest

from annotation.curve import (
    HeadLearners,
    Strategy,
    _active_round,
    labels_to_match,
    learning_curve,
    standardise,
)
from annotation.pool import PhotoPool
from annotation.select import SelectionParams
from tests.annotation.helpers import feature_pool


def test_pool_saves_and_loads(tmp_path, taxonomy):
    pool = feature_pool(30, taxonomy, seed=0, copies=5)
    again = PhotoPool.load(pool.save(tmp_path / "pool.npz"))
    assert len(again) == 35
    assert (again.features == pool.features).all() and (again.phash == pool.phash).all()
    assert (again.subset(np.array([0, 31])).duplicate_of == pool.duplicate_of[[0, 31]]).all()


def test_learners_beat_chance_and_skip_ungraded_photos(taxonomy):
    train, test = standardise(
        feature_pool(400, taxonomy, seed=1), feature_pool(200, taxonomy, seed=2)
    )
    acc = HeadLearners(taxonomy).fit(train, np.arange(400)).accuracy(test)
    assert acc["room"] > 0.8
    assert acc["condition"] > 1 / taxonomy.head_size("condition") + 0.1


def test_an_active_round_never_picks_a_copy_of_a_labelled_photo(taxonomy):
    train, _ = standardise(*(feature_pool(200, taxonomy, seed=3, copies=200),) * 2)
    labelled = list(range(0, 200, 2))
    learners = HeadLearners(taxonomy).fit(train, np.array(labelled))
    strategy = Strategy(params=SelectionParams(budget=0, pool_factor=10))
    picked = _active_round(learners, train, labelled, 60, strategy)
    assert len(picked) == 60 and not set(picked) & set(labelled)
    originals = [int(train.duplicate_of[i]) if train.duplicate_of[i] >= 0 else i for i in picked]
    assert not set(originals) & set(labelled)
    assert len(set(originals)) == len(originals)  # no two copies of one photo in a batch


@pytest.mark.parametrize("diversity", ["kcenter", "kmeans"])
def test_learning_curve_runs_and_reads_off_ratios(taxonomy, diversity):
    train, test = feature_pool(300, taxonomy, seed=4), feature_pool(150, taxonomy, seed=5)
    strategy = Strategy(params=SelectionParams(budget=0, diversity=diversity), batch=10)
    result = learning_curve(
        train, test, taxonomy, strategy=strategy, seeds=(0, 1), budgets=[10, 20, 40], seed_labels=10
    )
    assert result.labels == [10, 20, 40]
    assert len(result.active) == len(result.random) == len(result.active_sd) == 3
    assert result.random[-1] > result.random[0]  # more labels, better learner
    assert 0 < result.ceiling <= 1
    for n, target in zip(result.labels, result.random, strict=True):
        needed = labels_to_match(result.labels, result.active, target)
        assert result.ratios[n] == (None if needed is None else pytest.approx(needed / n))
