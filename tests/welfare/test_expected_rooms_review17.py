"""Photo coverage (vis_room_coverage) is the share of the rooms a fused model was trained with.

Before, assessments measured it over configs/welfare.yaml's current fusion.expected_rooms: edit
them after training and a fused model read a feature defined otherwise than the one it learned,
without a word. Assessments now use the rooms of the model's recipe (in its fusion.json).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from shanyraq.errors import ModelMismatchError
from tests.welfare.expected_rooms_helpers import edited, saved_and_loaded
from tests.welfare.families_helpers import family
from vision.score import PhotoScore
from welfare.assess import assess
from welfare.fusion import COVERAGE_FEATURE
from welfare.schema import parse_family


@pytest.fixture(autouse=True)
def nothing_said_yet(monkeypatch):
    """Each test starts as a fresh service would: no model's coverage logged about yet."""
    monkeypatch.setattr("welfare.assess._COVERAGE_SAID", set())


def photo(taxonomy, room: str, sha: str) -> PhotoScore:
    rooms = {r: (0.95 if r == room else 0.01) for r in taxonomy.room_names}
    grades = {g: (0.9 if g == 3 else 0.025) for g in taxonomy.condition_values}
    return PhotoScore(
        sha, "vision-1", rooms, grades, dict.fromkeys(taxonomy.sign_names, 0.05), np.zeros(0)
    )


def read_coverage(monkeypatch, model, config, taxonomy) -> tuple[list[float], list]:
    """The coverage the model reads and the assessments, for one family assessed twice: a
    kitchen and a bedroom photographed."""
    seen: list[float] = []
    predict = model.predict

    def spy(frame):
        if COVERAGE_FEATURE in model.features:  # the frame holds every feature there is
            seen.append(float(frame[COVERAGE_FEATURE].iloc[0]))
        return predict(frame)

    monkeypatch.setattr(model, "predict", spy)
    record = parse_family(family(config), config=config)
    scores = [photo(taxonomy, "kitchen", "a"), photo(taxonomy, "bedroom", "b")]
    results = [assess(record, scores, model=model, config=config, taxonomy=taxonomy)]
    results.append(assess(record, scores, model=model, config=config, taxonomy=taxonomy))
    return seen, results


def coverage_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "photo coverage" in r.getMessage()]


def test_a_fused_model_reads_coverage_over_the_rooms_it_was_trained_with(
    trained, welfare_config, taxonomy, tmp_path, monkeypatch, caplog
):
    trained_rooms = list(welfare_config.fusion.expected_rooms)
    assert set(trained_rooms) >= {"kitchen", "bedroom"} and len(trained_rooms) > 2
    model = saved_and_loaded(trained["lgbm_fused"], tmp_path / "fused")
    assert model.coverage_rooms == trained_rooms  # its recipe's, in fusion.json
    caplog.set_level(logging.WARNING, logger="welfare.assess")

    seen, results = read_coverage(monkeypatch, model, edited(welfare_config), taxonomy)

    assert seen == [2 / len(trained_rooms)] * 2  # not 1.0, the share of the edited rooms
    said = coverage_warnings(caplog)
    assert len(said) == 1  # once, not for every family
    assert model.meta.version in said[0] and "applies the configuration" in said[0]
    _, as_trained = read_coverage(monkeypatch, model, welfare_config, taxonomy)
    assert results[0].level_probs == as_trained[0].level_probs
    assert results[0].asp_probability == as_trained[0].asp_probability
    assert len(coverage_warnings(caplog)) == 1  # the training config's rooms: nothing to say


def test_a_model_recording_no_rooms_uses_the_config_and_says_so_once(
    trained, welfare_config, taxonomy, tmp_path, monkeypatch, caplog
):
    model = saved_and_loaded(trained["lgbm_fused"], tmp_path / "fused", rooms=None)
    caplog.set_level(logging.WARNING, logger="welfare.assess")
    seen, results = read_coverage(monkeypatch, model, edited(welfare_config), taxonomy)
    assert seen == [1.0, 1.0]  # the kitchen of the configured rooms: as before, not refused
    assert results[0].level is not None
    said = coverage_warnings(caplog)
    assert len(said) == 1 and "does not record the rooms" in said[0]


@pytest.mark.parametrize("name", ["lgbm_tabular", "rf_tabular"])
def test_a_tabular_model_is_unaffected(
    name, trained, welfare_config, taxonomy, tmp_path, monkeypatch, caplog
):
    model = saved_and_loaded(trained[name], tmp_path / name)
    assert model.coverage_rooms is None
    assert model.meta.version == trained[name].meta.version
    caplog.set_level(logging.WARNING, logger="welfare.assess")
    seen, results = read_coverage(monkeypatch, model, edited(welfare_config), taxonomy)
    _, as_trained = read_coverage(monkeypatch, model, welfare_config, taxonomy)
    assert COVERAGE_FEATURE not in model.features and seen == []  # it reads no coverage
    assert results[0].level_probs == as_trained[0].level_probs
    assert results[0].asp_probability == as_trained[0].asp_probability
    assert coverage_warnings(caplog) == []


@pytest.mark.parametrize("rooms", ["kitchen", [], ["kitchen", "kitchen"], [1, 2]])
def test_a_recipe_without_a_usable_list_of_rooms_records_none(rooms, trained, tmp_path):
    model = saved_and_loaded(trained["lgbm_fused"], tmp_path / "fused", rooms=rooms)
    assert model.coverage_rooms is None  # assessments then use the config's, saying so


def test_rooms_the_taxonomy_lacks_are_refused_when_assessing(
    trained, welfare_config, taxonomy, tmp_path, monkeypatch
):
    model = saved_and_loaded(trained["lgbm_fused"], tmp_path / "fused", ["kitchen", "garage"])
    with pytest.raises(ModelMismatchError, match=r"\['garage'\] that are not dwelling rooms"):
        read_coverage(monkeypatch, model, welfare_config, taxonomy)
