"""Photos to family: zero, one and many photos; what counts as usable."""

from __future__ import annotations

import math

import pytest

from tests.welfare.aggregate_helpers import EXPECTED, sure_score
from welfare.aggregate import PhotoFlags, aggregate


def test_no_photos_is_handled(taxonomy):
    visual = aggregate([], expected_rooms=EXPECTED, taxonomy=taxonomy)
    assert (visual.n_photos, visual.n_usable, visual.room_coverage) == (0, 0, 0.0)
    assert math.isnan(visual.overall.condition_mean)
    assert all(math.isnan(v) for v in visual.overall.sign_max.values())
    assert visual.flagged_share == 0.0


def test_one_photo(taxonomy):
    visual = aggregate(
        [sure_score(taxonomy, "kitchen", 2, signs={"damp_mould": 0.8})],
        expected_rooms=EXPECTED,
        taxonomy=taxonomy,
    )
    assert visual.n_usable == 1
    assert visual.overall.condition_mean == pytest.approx(2.0)
    assert visual.per_room["kitchen"].count == 1
    assert visual.per_room["bedroom"].count == 0
    assert visual.overall.sign_max["damp_mould"] == pytest.approx(0.8)
    assert visual.room_coverage == pytest.approx(1 / 5)


def test_many_photos_count_only_usable_ones(taxonomy):
    scores = [
        sure_score(taxonomy, "kitchen", 2, signs={"damp_mould": 0.6}),
        sure_score(taxonomy, "kitchen", 4, signs={"damp_mould": 0.2}),
        sure_score(taxonomy, "bedroom", 3),
        sure_score(taxonomy, "bathroom", 1, abstain=True),  # engine abstained
        sure_score(taxonomy, "living_room", 1),  # quality failed
        sure_score(taxonomy, "exterior", 1),  # reused from another family
        sure_score(taxonomy, "not_dwelling", 1),  # not a home
    ]
    flags = [None, None, None, None, PhotoFlags("fail"), PhotoFlags(reused=True), None]
    visual = aggregate(scores, flags=flags, expected_rooms=EXPECTED, taxonomy=taxonomy)
    assert (visual.n_photos, visual.n_usable) == (7, 3)
    assert (visual.n_abstained, visual.n_quality_failed, visual.n_reused) == (1, 1, 1)
    assert visual.n_flagged == 4
    assert visual.overall.condition_mean == pytest.approx(3.0)
    assert (visual.overall.condition_min, visual.overall.condition_max) == (2.0, 4.0)
    assert visual.per_room["kitchen"].condition_mean == pytest.approx(3.0)
    assert visual.per_room["kitchen"].sign_mean["damp_mould"] == pytest.approx(0.4)
    assert visual.overall.sign_max["damp_mould"] == pytest.approx(0.6)
    assert visual.room_coverage == pytest.approx(2 / 5)


def test_flags_must_align_with_scores(taxonomy):
    with pytest.raises(ValueError, match="1 photo flags for 2 scores"):
        aggregate(
            [sure_score(taxonomy, "kitchen", 3)] * 2,
            flags=[None],
            expected_rooms=EXPECTED,
            taxonomy=taxonomy,
        )


def test_expected_room_outside_taxonomy_is_a_config_error(taxonomy):
    from shanyraq.errors import ConfigError
    from welfare.aggregate import aggregate

    with pytest.raises(ConfigError, match=r"fusion\.expected_rooms"):
        aggregate([], expected_rooms=["kitchen", "garage"], taxonomy=taxonomy)
