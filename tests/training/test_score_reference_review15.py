"""Review 15: the drift reference leaves out, and counts, the photos whose scores are NaN or
infinite, as the evaluation's figures do (training.calibrate.finite_only)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from training.calibrate import HeadLogits
from training.score_reference import score_reference

from .fixed_model import fixed_predictor


def _logits(room: np.ndarray, condition: np.ndarray, signs: np.ndarray) -> HeadLogits:
    n = len(room)
    unlabelled = np.full(n, -1)
    return HeadLogits(
        room=room, condition=condition, signs=signs, room_target=unlabelled,
        condition_target=unlabelled, signs_target=np.zeros_like(signs),
        signs_known=np.zeros(n, dtype=bool),
    )  # fmt: skip


@pytest.fixture(scope="module")
def photos(taxonomy):
    """Six photos: two kitchens of grade 3, two bathrooms of grade 2 (all finite), and their
    copies spoilt one head each below."""
    artifact, _ = fixed_predictor(taxonomy, sign_logit=-2.0)
    r, k, s = (taxonomy.head_size(h) for h in ("room", "condition", "signs"))
    room = np.stack([np.eye(r)[i % 2] * 9 for i in range(4)])
    condition = np.stack([np.eye(k)[2 - i % 2] * 9 for i in range(4)])
    return artifact, room, condition, np.full((4, s), -2.0)


def test_photos_with_non_finite_scores_are_left_out_and_counted(photos, taxonomy):
    artifact, room, condition, signs = photos
    clean = score_reference(
        _logits(room, condition, signs), artifact, not_dwelling=taxonomy.not_dwelling, split="test"
    )
    assert clean["photos"] == {"room": 4, "condition": 4}
    assert clean["nonfinite"] == {"room": 0, "condition": 0, "signs": 0}

    # A kitchen with -inf for one room (its softmax is finite: it used to be counted), a
    # bathroom with +inf for a grade (a RuntimeWarning, then NaN), a kitchen with a NaN sign.
    spoilt_room, spoilt_condition, spoilt_signs = room[[0]].copy(), condition[[1]].copy(), signs[:1]
    spoilt_room[0, 3] = -np.inf
    spoilt_condition[0, 0] = np.inf
    spoilt_signs = spoilt_signs.copy()
    spoilt_signs[0, 1] = np.nan
    mixed = _logits(
        np.concatenate([room, spoilt_room, room[[1]], room[[0]]]),
        np.concatenate([condition, condition[[0]], spoilt_condition, condition[[0]]]),
        np.concatenate([signs, signs[:1], signs[:1], spoilt_signs]),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from a NaN or infinite logit
        found = score_reference(mixed, artifact, not_dwelling=taxonomy.not_dwelling, split="test")
    assert found["nonfinite"] == {"room": 1, "condition": 1, "signs": 1}
    assert found["photos"] == clean["photos"]
    assert found["room"] == pytest.approx(clean["room"])
    assert found["condition"] == pytest.approx(clean["condition"])


def test_a_reference_of_only_non_finite_photos_is_empty(photos, taxonomy):
    artifact, room, condition, signs = photos
    broken = np.full_like(room, np.nan)
    found = score_reference(
        _logits(broken, condition, signs), artifact, not_dwelling=taxonomy.not_dwelling, split="x"
    )
    assert found["photos"] == {"room": 0, "condition": 0}
    assert found["room"] == {} and found["condition"] == {}
    assert found["nonfinite"] == {"room": 4, "condition": 0, "signs": 0}
