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


def _room_logits(rng, n: int, classes: list[int], n_classes: int = 4):
    """Logits that are equally informative for every class: +3 on the true one."""
    y = rng.choice(classes, n)
    z = rng.normal(0, 1, (n, n_classes))
    z[np.arange(n), y] += 3.0
    return z, y


def _room_only(z, y) -> HeadLogits:
    n = len(y)
    none = np.full(n, -1)
    return HeadLogits(z, np.zeros((n, 4)), np.zeros((n, 2)), y, none, np.zeros((n, 2)), none > 0)


def test_a_class_missing_from_validation_is_not_pushed_down(caplog):
    """Review finding: its fitted offset was -2 and its recall fell from 0.96 to 0.83."""
    from training.calibrate import fit_calibration

    rng = np.random.default_rng(0)
    z, y = _room_logits(rng, 400, [0, 1, 2])
    names = {"room": ["kitchen", "bathroom", "bedroom", "exterior"]}
    with caplog.at_level("WARNING", logger="training.calibrate"):
        fitted = fit_calibration(
            _room_only(z, y), formulation="coral", bias_heads=["room"], l2=1e-3,
            min_examples=20, class_names=names,
        )  # fmt: skip
    offsets = fitted.biases.room
    assert offsets[3] == 0.0 and sum(offsets) == pytest.approx(0.0, abs=1e-6)
    assert "exterior (0)" in caplog.text and "kitchen" not in caplog.text
    test_z, _ = _room_logits(rng, 2000, [3])
    raw = (test_z.argmax(1) == 3).mean()
    calibrated = (softmax(test_z, fitted.temperatures.room, offsets).argmax(1) == 3).mean()
    assert calibrated >= raw - 0.01


def test_a_tiny_validation_set_gets_a_temperature_only(caplog):
    from training.calibrate import fit_calibration

    z, y = _room_logits(np.random.default_rng(1), 3, [0])
    with caplog.at_level("WARNING", logger="training.calibrate"):
        fitted = fit_calibration(
            _room_only(z, y), formulation="coral", bias_heads=["room"], l2=1e-3
        )
    assert fitted.biases.room == []
    assert fitted.temperatures.room == fit_temperatures(_room_only(z, y), formulation="coral").room
    assert "room gets a temperature only" in caplog.text


def test_coral_thresholds_next_to_a_rare_grade_keep_no_offset():
    from training.calibrate import fit_calibration
    from vision.heads import coral_to_probs

    rng = np.random.default_rng(2)
    n = 3000
    cond = np.sort(rng.normal(0, 3, size=(n, 4)), axis=1)[:, ::-1].copy()
    cond_y = _sample(rng, coral_to_probs(cond, 1.5, np.array([1.0, 0.5, -0.5, -1.5])))
    cond_y[cond_y == 4] = 3  # grade 5 never seen in validation
    room = rng.normal(0, 3, size=(n, 6))
    logits = HeadLogits(
        room, cond, np.zeros((n, 8)), _sample(rng, softmax(room)), cond_y, np.zeros((n, 8)),
        np.ones(n, dtype=bool),
    )  # fmt: skip
    fitted = fit_calibration(logits, formulation="coral", bias_heads=["condition"], l2=1e-3)
    assert fitted.biases.condition[3] == 0.0
    assert all(b != 0.0 for b in fitted.biases.condition[:3])


def test_with_every_class_supported_the_fit_is_the_unconstrained_one():
    """Recipes whose validation has every class (the demo's: 118 or more each) fit as before."""
    from training.calibrate import (
        _class_nll,
        _head_probs,
        fit_calibration,
        fit_temperature_and_bias,
    )

    z, y = _room_logits(np.random.default_rng(3), 600, [0, 1, 2, 3])
    fitted = fit_calibration(_room_only(z, y), formulation="coral", bias_heads=["room"], l2=1e-3)
    t, b = fit_temperature_and_bias(_class_nll(_head_probs("room", ""), z, y), 4, l2=1e-3)
    assert (fitted.temperatures.room, fitted.biases.room) == (t, b)
