"""Metrics against values computed by hand on tiny fixtures."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import (
    condition_metrics,
    expected_calibration_error,
    ordinal_median,
    room_metrics,
    signs_metrics,
)

LABELS = ["kitchen", "bathroom", "not_dwelling"]


def test_ordinal_median_decoding():
    probs = np.array(
        [[0.6, 0.2, 0.1, 0.05, 0.05], [0.1, 0.2, 0.15, 0.5, 0.05], [0.1, 0.1, 0.3, 0.0, 0.5]]
    )
    # cumulative: [0.6..] -> 0; [0.1, 0.3, 0.45, 0.95] -> 3; [0.1, 0.2, 0.5] -> 2 (tie at 0.5)
    assert ordinal_median(probs).tolist() == [0, 3, 2]


def test_ece_hand_computed():
    confidence = np.array([0.95, 0.95, 0.55, 0.55])
    correct = np.array([1, 1, 1, 0])
    # bin of 0.95: |1.0 - 0.95| = 0.05 (2 items); bin of 0.55: |0.5 - 0.55| = 0.05 (2 items)
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.05)


def test_room_metrics_hand_computed():
    target = np.array([0, 0, 1, 2, 2, -1])
    pred = np.array([0, 1, 1, 2, 0, 2])
    probs = np.eye(3)[pred] * 0.9 + 0.05
    m = room_metrics(probs, target, labels=LABELS, not_dwelling="not_dwelling")
    assert m["n"] == 5 and m["accuracy"] == pytest.approx(3 / 5)
    assert m["per_class_recall"] == {"kitchen": 0.5, "bathroom": 1.0, "not_dwelling": 0.5}
    # F1: kitchen p=1/2 r=1/2 -> .5; bathroom p=1/2 r=1 -> 2/3; not_dwelling p=1 r=1/2 -> 2/3
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3)
    assert m["not_dwelling_precision"] == 1.0 and m["not_dwelling_recall"] == 0.5


def test_condition_metrics_hand_computed():
    target = np.array([0, 1, 2, -1])
    pred = np.array([0, 2, 2, 4])
    probs = np.eye(5)[pred]
    m = condition_metrics(probs, target)
    assert m["accuracy"] == pytest.approx(2 / 3) and m["mae"] == pytest.approx(1 / 3)
    # QWK by hand on 3 grades in use (K=5 weights): observed weighted disagreement
    # O = sum w_ij O_ij with w = (i-j)^2/16: one (1,2) pair -> 1/16.
    # Expected E from marginals t=(1,1,1,0,0)/3, p=(1,0,2,0,0)/3, scaled to n=3.
    w = (np.subtract.outer(np.arange(5), np.arange(5)) ** 2) / 16
    t, p = np.array([1, 1, 1, 0, 0]), np.array([1, 0, 2, 0, 0])
    expected = (w * np.outer(t, p) / 3).sum()
    assert m["qwk"] == pytest.approx(1 - (1 / 16) / expected)
    assert m["confusion"][1][2] == 1


def test_signs_average_precision_hand_computed():
    target = np.array([[1, 0], [0, 0], [1, 0], [0, 1]], dtype=float)
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.3], [0.1, 0.9]])
    known = np.array([True, True, True, True])
    m = signs_metrics(probs, target, known, labels=["a", "b"])
    # sign a ranked 0.9(+) 0.8(-) 0.3(+) 0.1(-): AP = (1/1 + 2/3) / 2
    assert m["ap"]["a"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["ap"]["b"] == pytest.approx(1.0)
    assert m["map"] == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)
    unknown = signs_metrics(probs, target, np.array([True, True, True, False]), labels=["a", "b"])
    assert np.isnan(unknown["ap"]["b"]) and unknown["map"] == pytest.approx((1 + 2 / 3) / 2)
    # A sign in every photo ranks nothing: AP would be 1.0 even for scores that say "absent".
    everywhere = np.array([[1, 0], [1, 0], [1, 0], [1, 1]], dtype=float)
    m = signs_metrics(np.full_like(probs, 0.01), everywhere, known, labels=["a", "b"])
    assert np.isnan(m["ap"]["a"]) and m["map"] == pytest.approx(m["ap"]["b"])


def test_ece_interval_brackets_the_ece_and_narrows_with_more_examples():
    from training.metrics import ece_interval, expected_calibration_error

    rng = np.random.default_rng(0)

    def sample(n):
        confidence = rng.uniform(0.3, 1.0, n)
        return confidence, rng.random(n) < confidence  # calibrated by construction

    small, large = sample(300), sample(30000)
    lo, hi = ece_interval(*small)
    assert lo <= expected_calibration_error(*small) <= hi
    lo_large, hi_large = ece_interval(*large, resamples=50)
    assert hi_large - lo_large < (hi - lo) / 3
    assert ece_interval(np.array([]), np.array([])) == []


def test_ece_floor_is_what_a_calibrated_head_shows_and_shrinks_with_more_examples():
    from training.metrics import ece_floor, expected_calibration_error

    rng = np.random.default_rng(2)
    confidence = rng.uniform(0.3, 0.7, 900)  # a weak head: where ECE's sampling bias is large
    floor = ece_floor(confidence)
    calibrated = [
        expected_calibration_error(confidence, rng.random(900) < confidence) for _ in range(200)
    ]
    assert floor["mean"] == pytest.approx(np.mean(calibrated), rel=0.15)
    assert floor["mean"] < floor["high"] < 0.08 and floor["mean"] > 0.015  # not zero at 900
    off = expected_calibration_error(confidence, rng.random(900) < confidence - 0.1)
    assert off > floor["high"]  # 10 points overconfident: beyond what noise explains
    assert ece_floor(rng.uniform(0.3, 0.7, 30000), draws=50)["mean"] < floor["mean"] / 3
    assert ece_floor(np.array([])) == {}


def test_difference_interval_brackets_a_known_difference_and_narrows_with_more_examples():
    from training.metrics import difference_interval

    rng = np.random.default_rng(1)

    def interval(n):
        a, b = rng.normal(0.7, 0.2, n), rng.normal(0.5, 0.2, n)
        return difference_interval(lambda i: a[i].mean(), n, lambda i: b[i].mean(), n)

    lo, hi = interval(200)
    assert lo < 0.2 < hi  # the true difference of the two means
    lo_large, hi_large = interval(20000)
    assert lo_large < 0.2 < hi_large and hi_large - lo_large < (hi - lo) / 5
    assert difference_interval(lambda i: 0.9, 5, lambda i: 0.4, 7) == [0.5, 0.5]
    assert difference_interval(lambda i: 0.9, 0, lambda i: 0.4, 7) == []
    # Resamples where a score is undefined are left out, not counted as zero.
    flaky = iter([np.nan, 0.9] * 100)
    assert difference_interval(lambda i: next(flaky), 5, lambda i: 0.4, 5) == [0.5, 0.5]
    assert difference_interval(lambda i: np.nan, 5, lambda i: 0.4, 5) == []


def test_nothing_labelled_gives_nan_figures_not_an_error():
    """A split, or a bootstrap resample, with no room or grade label (all -1)."""
    unlabelled = np.full(4, -1)
    room = room_metrics(
        np.full((4, 3), 1 / 3), unlabelled, labels=LABELS, not_dwelling="not_dwelling"
    )
    assert room["n"] == 0 and room["confusion"] == [[0] * 3] * 3
    figures = [room["accuracy"], room["macro_f1"], room["not_dwelling_precision"]]
    assert all(np.isnan(v) for v in [*figures, *room["per_class_recall"].values()])
    condition = condition_metrics(np.full((4, 5), 0.2), unlabelled)
    assert condition["n"] == 0 and all(np.isnan(condition[k]) for k in ("qwk", "accuracy", "mae"))
    signs = signs_metrics(
        np.full((4, 2), 0.5), np.zeros((4, 2)), np.zeros(4, bool), labels=["a", "b"]
    )
    assert signs["n"] == 0 and np.isnan(signs["map"])


def test_a_resample_without_room_labels_is_left_out_of_the_interval():
    from training.metrics import difference_interval

    target = np.array([0, 1, 2, -1, -1, -1, -1, -1])
    probs = np.eye(3)[[0, 1, 2, 0, 0, 0, 0, 0]]

    def f1(i: np.ndarray) -> float:
        found = room_metrics(probs[i], target[i], labels=LABELS, not_dwelling="not_dwelling")
        return float(found["macro_f1"])

    interval = difference_interval(f1, len(target), f1, len(target), resamples=200)
    assert len(interval) == 2
