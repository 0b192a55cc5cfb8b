"""recommendation.model_eligible_cut lies strictly above the not_eligible band: a P(eligible)
in that band cannot also count as "the model says eligible" (test_criteria.py walks the
range; here the message and the edge)."""

from __future__ import annotations

import pytest

from shanyraq.errors import ConfigError
from tests.welfare.welfare_config_helpers import with_recommendation


def test_a_cut_on_the_not_eligible_band_top_is_refused_naming_both_keys(tmp_path):
    with pytest.raises(ConfigError) as caught:
        with_recommendation(tmp_path, not_eligible_max_probability=0.1, model_eligible_cut=0.1)
    message = str(caught.value)
    assert "model_eligible_cut 0.1" in message
    assert "not_eligible_max_probability 0.1 (exclusive" in message


def test_a_cut_just_above_the_band_is_accepted(tmp_path):
    config = with_recommendation(
        tmp_path, not_eligible_max_probability=0.1, model_eligible_cut=0.11
    )
    assert config.recommendation.model_eligible_cut == 0.11
