"""Evaluations read a fused model's photo coverage over the rooms it was trained with.

Assessments already did (welfare.assess.coverage_rooms), but `welfare evaluate`,
`welfare evaluate-real` and real_scores built every model's features from configs/welfare.yaml's
current fusion.expected_rooms: a saved model evaluated after they were edited was measured on a
feature it was not trained on, and `welfare evaluate` refused it as trained on other data.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.welfare.expected_rooms_helpers import EDITED_ROOMS, edited, saved_and_loaded
from tests.welfare.families_helpers import make_families
from welfare.dataset import build_family_data, synthetic_family_data
from welfare.evaluation import evaluate_models
from welfare.fusion import COVERAGE_FEATURE
from welfare.simulate import simulate_photos
from welfare.train import evaluate_saved, train_models

MODELS = ("lgbm_fused", "rf_fused", "lgbm_tabular")


@pytest.fixture(autouse=True)
def nothing_said_yet(monkeypatch):
    monkeypatch.setattr("welfare.assess._COVERAGE_SAID", set())


def figures(result: dict) -> dict:
    """An evaluation's figures, without the per-family frames (compared apart)."""
    return {k: v for k, v in result.items() if k != "_frames"}


def assert_same_evaluation(one: dict, other: dict) -> None:
    assert figures(one) == figures(other)
    assert one["_frames"].keys() == other["_frames"].keys()
    for name, frame in one["_frames"].items():
        pd.testing.assert_frame_equal(frame, other["_frames"][name])


def test_evaluating_saved_models_after_the_rooms_were_edited_gives_the_same_figures(
    trained, welfare_config, tmp_path
):
    table, planned = make_families(240, seed=21, config=welfare_config)
    photos = simulate_photos(planned, seed=22)
    config = edited(welfare_config)
    as_trained = build_family_data(table, photos, config=welfare_config)
    after_edit = build_family_data(table, photos, config=config)
    # The edit changes the feature as the data are built: the test would otherwise prove nothing.
    assert len(EDITED_ROOMS) == 1 and set(after_edit.features[COVERAGE_FEATURE]) <= {0.0, 1.0}
    assert not after_edit.features[COVERAGE_FEATURE].equals(as_trained.features[COVERAGE_FEATURE])
    models = {name: saved_and_loaded(trained[name], tmp_path / name) for name in MODELS}

    before = evaluate_models(models, as_trained, config=welfare_config, n_boot=20, seed=0)
    after = evaluate_models(models, after_edit, config=config, n_boot=20, seed=0)

    assert_same_evaluation(after, before)


def test_welfare_evaluate_of_a_folder_after_the_rooms_were_edited(
    welfare_config, tmp_path, monkeypatch
):
    """`evaluate_saved` regenerates the families with the configuration of the moment (as the
    CLI's get_welfare_config() reads configs/welfare.yaml): edited after training, the models
    are still checked against, and measured on, the features they were trained on."""
    current = {"config": welfare_config}

    def synthetic(n, *, seed, progress=False, config=None):
        table, planned = make_families(n, seed=seed, config=welfare_config)
        photos = simulate_photos(planned, seed=seed + 1)
        return build_family_data(table, photos, config=current["config"])

    monkeypatch.setattr("welfare.train.synthetic_family_data", synthetic)
    names = ["lgbm_tabular", "lgbm_fused"]
    train_models(tmp_path, n=300, seed=5, names=names, config=welfare_config)
    before, _ = evaluate_saved(tmp_path, n_boot=20, config=welfare_config)

    current["config"] = edited(welfare_config)
    after, context = evaluate_saved(tmp_path, n_boot=20, config=current["config"])

    assert_same_evaluation(after, before)
    assert context["welfare_config_sha256"] == current["config"].digest()


def test_synthetic_families_are_built_with_the_config_given(welfare_config):
    config = edited(welfare_config)
    data = synthetic_family_data(40, seed=1, config=config)
    assert set(data.features[COVERAGE_FEATURE]) <= {0.0, 1.0}  # a share of one room
    assert [v.room_coverage for v in data.visuals] == data.features[COVERAGE_FEATURE].tolist()
    default = synthetic_family_data(40, seed=1)
    assert len(set(default.features[COVERAGE_FEATURE])) > 2  # the configured rooms: shares
