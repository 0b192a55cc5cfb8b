"""Review 25 of the evaluation metrics: the signs ECE interval resamples photos, not pairs."""

from __future__ import annotations

import numpy as np
import pytest

from training.calibrate import HeadLogits
from training.evaluate import head_metrics
from training.metrics import ece_interval, expected_calibration_error, reliability_curve

from .fixed_model import fixed_predictor


def _photos(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One confidence per photo and whether it was right (overconfident by 0.1)."""
    confidence = rng.uniform(0.3, 0.95, n)
    return confidence, rng.random(n) < confidence - 0.1


def test_ece_interval_draws_a_photos_values_together():
    # Every photo's values are copies of one: the copies carry no more evidence than one
    # value a photo, so the interval is that of one value a photo, not sqrt(8) narrower.
    rng = np.random.default_rng(0)
    confidence, correct = _photos(300, rng)
    copies = np.repeat(confidence[:, None], 8, axis=1), np.repeat(correct[:, None], 8, axis=1)
    assert expected_calibration_error(*copies) == pytest.approx(
        expected_calibration_error(confidence, correct)
    )
    assert ece_interval(*copies) == pytest.approx(ece_interval(confidence, correct))
    assert reliability_curve(*copies)["count"] == [
        8 * c for c in reliability_curve(confidence, correct)["count"]
    ]


def test_signs_ece_interval_of_an_evaluation_is_over_photos(taxonomy):
    """The report calls the interval "a bootstrap over the evaluated photos"; for signs it
    resampled (photo, sign) pairs, as if a photo's signs were independent photos."""
    artifact, _ = fixed_predictor(taxonomy, sign_logit=0.0)
    r, k, s = (taxonomy.head_size(h) for h in ("room", "condition", "signs"))
    rng = np.random.default_rng(1)
    n = 240
    confidence, present = _photos(n, rng)
    logit = np.log(confidence / (1 - confidence))  # every sign of a photo says the same
    logits = HeadLogits(
        room=rng.normal(0, 2, (n, r)),
        condition=rng.normal(0, 2, (n, k)),
        signs=np.repeat(logit[:, None], s, axis=1),
        room_target=rng.integers(0, r, n),
        condition_target=rng.integers(0, k, n),
        signs_target=np.repeat(present[:, None], s, axis=1).astype(float),
        signs_known=np.ones(n, dtype=bool),
    )
    metrics = head_metrics(logits, artifact, not_dwelling=taxonomy.not_dwelling)
    assert metrics["ece"]["signs"]["after"] == pytest.approx(
        expected_calibration_error(confidence, present)
    )
    assert metrics["ece_ci"]["signs"] == pytest.approx(ece_interval(confidence, present))
