"""Review 17 of calibration: a joint fit that does not converge is said, and the numbers
fitted on validation are the ones serving applies, through calibration.json and model.json."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from training.calibrate import HeadLogits, fit_calibration, fit_temperature_and_bias
from vision.heads import coral_to_probs, head_probs, sigmoid, softmax

# 1. The joint fit of temperature and offsets reported no failure: L-BFGS-B stopping short
#    (a failed line search, the iteration limit) left whatever it had, served silently.


def test_a_joint_fit_that_does_not_converge_is_warned(caplog):
    # A step in the objective (as saturated log-likelihoods make on huge logits): the line
    # search fails and L-BFGS-B stops short, its temperature halfway to the minimum.
    def stepped(t: float, b: np.ndarray) -> float:
        return float((np.log(t) - 1.0) ** 2 + ((b - 0.5) ** 2).sum() + 10 * (b[0] > 0.25))

    with caplog.at_level(logging.WARNING, logger="training.calibrate"):
        fit_temperature_and_bias(stepped, 2, l2=0.0, head="condition")
    warned = [r.getMessage() for r in caplog.records if "did not converge" in r.getMessage()]
    assert len(warned) == 1 and "condition" in warned[0], caplog.text

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="training.calibrate"):
        t, b = fit_temperature_and_bias(
            lambda t, b: float((np.log(t) - 1.0) ** 2 + ((b - 0.5) ** 2).sum()), 2, l2=0.0
        )
    assert "did not converge" not in caplog.text
    assert t == pytest.approx(np.e, rel=1e-3) and b == pytest.approx([0.5, 0.5], abs=1e-3)


# 2. What serving applies is what was fitted: fit, write calibration.json as the build does,
#    read it back as export does, into model.json and out again, same probabilities.


def _validation(rng: np.random.Generator, n: int = 1500) -> HeadLogits:
    room = rng.normal(0, 2, (n, 6))
    room_p = softmax(room, 1.7, [0.4, -0.2, 0.0, 0.0, 0.1, -0.3])
    room_y = np.array([rng.choice(6, p=p) for p in room_p])
    cond = np.sort(rng.normal(0, 3, (n, 4)), axis=1)[:, ::-1].copy()
    cond_p = coral_to_probs(cond, 1.4, np.array([0.8, 0.3, -0.4, -1.0]))
    cond_y = np.array([rng.choice(5, p=p) for p in cond_p])
    cond_y[room_y == 5] = -1  # not_dwelling photos have no grade
    signs = rng.normal(0, 2, (n, 8))
    signs_y = (rng.random((n, 8)) < sigmoid(signs, 0.6)).astype(float)
    return HeadLogits(room, cond, signs, room_y, cond_y, signs_y, room_y != 5)


def test_the_served_probabilities_are_the_fitted_ones(tmp_path, taxonomy):
    from training.build import read_calibration
    from vision.artifact import read_artifact, write_artifact
    from vision.export import ExportRequest, build_metadata
    from vision.model import create_model, model_preprocessing

    rng = np.random.default_rng(17)
    logits = _validation(rng)
    fitted = fit_calibration(
        logits, formulation="coral", bias_heads=["room", "condition"], l2=1e-3,
        class_names={"room": taxonomy.room_names},
    )  # fmt: skip
    t, b = fitted.temperatures, fitted.biases
    assert 1.3 < t.room < 2.1 and 1.1 < t.condition < 1.8 and 0.5 < t.signs < 0.7
    assert len(b.room) == 6 and len(b.condition) == 4

    (tmp_path / "calibration.json").write_text(fitted.model_dump_json(indent=2))
    stored = read_calibration(tmp_path / "calibration.json")
    model = create_model("shanyraq_test", taxonomy=taxonomy).eval()
    request = ExportRequest(
        variant="shanyraq_test", preprocessing=model_preprocessing(model, size=32),
        model_version="review17", temperatures=stored.temperatures, biases=stored.biases,
    )  # fmt: skip
    write_artifact(tmp_path, build_metadata(model, request, taxonomy=taxonomy))
    artifact = read_artifact(tmp_path)

    fresh = _validation(np.random.default_rng(18), 200)
    served = head_probs(artifact, fresh.room, fresh.condition, fresh.signs)
    expected = (
        softmax(fresh.room, t.room, b.room),
        coral_to_probs(fresh.condition, t.condition, b.condition),
        sigmoid(fresh.signs, t.signs),
    )
    for got, want in zip(served, expected, strict=True):
        assert np.array_equal(got, want)
