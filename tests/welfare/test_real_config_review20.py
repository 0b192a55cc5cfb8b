"""Review 20: the study's families and the training data come from the same configuration,
and the study's engine takes its settings from configs/engine.yaml (threads aside)."""

from __future__ import annotations

import pandas as pd
import pytest

import vision.engine
from tests.welfare.engine_study_helpers import SEED, N
from tests.welfare.welfare_config_helpers import other_poverty_line
from welfare.criteria import WelfareConfig
from welfare.dataset import split_indices, synthetic_family_data
from welfare.real_families import held_out_families
from welfare.real_scores import study_engine


def other_regions(config: WelfareConfig) -> WelfareConfig:
    return config.model_copy(update={"regions": ["north", "south"]})


@pytest.mark.parametrize("edit", [other_regions, other_poverty_line])
def test_the_study_families_are_the_training_data_under_any_config(config, edit):
    """With a config other than configs/welfare.yaml (other regions: refused while reading the
    training data; another poverty line: other incomes and ASP labels), `welfare train`'s data
    and the study's families are generated with it alike."""
    edited = edit(config)
    data = synthetic_family_data(N, seed=SEED, config=edited)
    assert set(data.table["region"]) <= set(edited.regions)
    _, test_idx = split_indices(N, test_fraction=edited.fusion.test_fraction, seed=SEED)
    held = held_out_families(len(test_idx), n=N, seed=SEED, config=edited)
    pd.testing.assert_frame_equal(data.subset(test_idx).table, held.table)


def test_the_study_engine_is_configs_engine_on_one_thread(vision_dir, monkeypatch):
    """Providers, fp16, abstain thresholds, quality and hashing as configs/engine.yaml (read
    through the shared get_engine_config) says; only the thread counts are the study's own."""
    shipped = vision.engine.get_engine_config()
    runtime = shipped.runtime.model_copy(
        update={"providers": ("cpu",), "fp16": False, "intra_op_threads": 3}
    )
    abstain = shipped.abstain.model_copy(update={"min_room_probability": 0.25})
    configured = shipped.model_copy(update={"runtime": runtime, "abstain": abstain})
    monkeypatch.setattr(vision.engine, "get_engine_config", lambda: configured)
    engine = study_engine(vision_dir)
    one_thread = runtime.model_copy(update={"intra_op_threads": 1, "inter_op_threads": 1})
    assert engine.config == configured.model_copy(update={"runtime": one_thread})
    assert engine.provider == "cpu"
