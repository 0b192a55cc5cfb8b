"""Temperature scaling recovers a known temperature and lowers ECE."""

from __future__ import annotations

import numpy as np
import pytest

from training.calibrate import HeadLogits, fit_temperatures
from training.metrics import expected_calibration_error
from vision.heads import sigmoid, softmax


def _sample(rng, probs):
    return np.array([rng.choice(len(p), p=p) for p in probs])


def test_recovers_known_temperatures():
    rng = np.random.default_rng(0)
    n, true_t = 4000, 2.5
    room = rng.normal(0, 3, size=(n, 6))
    cond = np.sort(rng.normal(0, 3, size=(n, 4)), axis=1)[:, ::-1].copy()  # coral: ordered
    signs = rng.normal(0, 3, size=(n, 8))
    room_y = _sample(rng, softmax(room, true_t))
    from vision.heads import coral_to_probs

    cond_y = _sample(rng, coral_to_probs(cond, true_t))
    signs_y = (rng.random((n, 8)) < sigmoid(signs, true_t)).astype(float)
    room_y[:50] = -1  # unlabelled rows are ignored
    logits = HeadLogits(room, cond, signs, room_y, cond_y, signs_y, np.ones(n, dtype=bool))
    t = fit_temperatures(logits, formulation="coral")
    assert t.room == pytest.approx(true_t, rel=0.1)
    assert t.condition == pytest.approx(true_t, rel=0.15)
    assert t.signs == pytest.approx(true_t, rel=0.1)
    keep = room_y >= 0
    before = expected_calibration_error(
        softmax(room[keep]).max(1), softmax(room[keep]).argmax(1) == room_y[keep]
    )
    after_p = softmax(room[keep], t.room)
    after = expected_calibration_error(after_p.max(1), after_p.argmax(1) == room_y[keep])
    assert after < before / 3


def test_offsets_fix_what_a_temperature_cannot():
    """Labels drawn from shifted CORAL thresholds: the joint fit recovers T and the offsets."""
    from training.calibrate import fit_calibration
    from training.metrics import top_label_calibration
    from vision.heads import coral_to_probs

    rng = np.random.default_rng(1)
    n, true_t, true_b = 6000, 1.5, np.array([1.0, 0.5, -0.5, -1.5])
    cond = np.sort(rng.normal(0, 3, size=(n, 4)), axis=1)[:, ::-1].copy()
    cond_y = _sample(rng, coral_to_probs(cond, true_t, true_b))
    room = rng.normal(0, 3, size=(n, 6))
    room_y = _sample(rng, softmax(room, 1.0))
    signs = rng.normal(0, 3, size=(n, 8))
    signs_y = (rng.random((n, 8)) < sigmoid(signs)).astype(float)
    logits = HeadLogits(room, cond, signs, room_y, cond_y, signs_y, np.ones(n, dtype=bool))
    fitted = fit_calibration(logits, formulation="coral", bias_heads=["condition"], l2=0.0)
    assert fitted.temperatures.condition == pytest.approx(true_t, rel=0.15)
    assert np.allclose(fitted.biases.condition, true_b, atol=0.2)
    assert fitted.biases.room == []  # not asked for
    only_t = fit_temperatures(logits, formulation="coral").condition
    ece_t = expected_calibration_error(*top_label_calibration(coral_to_probs(cond, only_t), cond_y))
    joint = coral_to_probs(cond, fitted.temperatures.condition, fitted.biases.condition)
    ece_joint = expected_calibration_error(*top_label_calibration(joint, cond_y))
    assert ece_joint < ece_t / 2
