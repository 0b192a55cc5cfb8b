"""Simulated photo scores: valid distributions, seeded, abstentions as documented."""

from __future__ import annotations

import pytest

from tests.welfare.families_helpers import Planned
from vision.score import ABSTAIN_NOT_DWELLING, ABSTAIN_QUALITY
from welfare.simulate import NoiseModel, simulate_photos


def planned(n=40):
    return [
        Planned("f1", "kitchen", 2, frozenset({"damp_mould"}), 0, True, None) for _ in range(n)
    ] + [
        Planned("f2", "bedroom", 5, frozenset(), 0, False, "blurred"),
        Planned("f2", "bedroom", 5, frozenset(), 0, False, "reused photo"),
        Planned("f2", "not_dwelling", None, frozenset(), 0, True, None),
    ]


def test_same_seed_same_scores_and_valid_distributions():
    a, b = simulate_photos(planned(), seed=1), simulate_photos(planned(), seed=1)
    assert [p.score.condition for p in a["f1"]] == [p.score.condition for p in b["f1"]]
    for p in a["f1"]:
        assert sum(p.score.room.values()) == pytest.approx(1.0)
        assert sum(p.score.condition.values()) == pytest.approx(1.0)
        assert all(0 <= v <= 1 for v in p.score.signs.values())


def test_scores_follow_the_true_labels_on_average():
    photos = simulate_photos(planned(400), seed=2)["f1"]
    assert sum(p.score.top_room == "kitchen" for p in photos) / 400 > 0.85
    mean_grade = sum(p.score.expected_condition for p in photos) / 400
    assert mean_grade == pytest.approx(2.0, abs=0.3)
    mean_damp = sum(p.score.signs["damp_mould"] for p in photos) / 400
    mean_premium = sum(p.score.signs["premium_finishes"] for p in photos) / 400
    assert mean_damp > 0.55 > 0.15 > mean_premium


def test_unusable_and_not_dwelling_photos_abstain_or_are_flagged():
    blurred, reused, street = simulate_photos(planned(0), seed=3)["f2"]
    assert blurred.score.abstain and blurred.score.abstain_reasons == (ABSTAIN_QUALITY,)
    assert blurred.flags.quality_status == "fail"
    assert reused.flags.reused and not reused.score.abstain
    perfect = NoiseModel(room_accuracy=1.0)
    street = simulate_photos(planned(0), seed=3, noise=perfect)["f2"][2]
    assert street.score.abstain_reasons == (ABSTAIN_NOT_DWELLING,)
