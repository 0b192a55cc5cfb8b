"""The ceiling measurement: a perfect photo reader is compared with simulated scores."""

from __future__ import annotations

from welfare.ceiling import PERFECT_READER, READINGS, measure_ceiling
from welfare.report import ceiling_lines


def test_perfect_reader_has_no_noise():
    assert PERFECT_READER.room_accuracy == 1.0
    assert PERFECT_READER.sign_miss == PERFECT_READER.sign_false_alarm == 0.0
    assert PERFECT_READER.condition_off_by_one == 0.0


def test_ceiling_measures_each_reading_and_size(welfare_config):
    result = measure_ceiling(n=600, seed=5, sizes=[200, 400, 10_000], config=welfare_config)
    rows = result["rows"]
    assert {r["reading"] for r in rows} == set(READINGS)
    assert {r["n_train"] for r in rows} == {200, 400}  # 10,000 is more than the split holds
    assert all(0.3 < r["accuracy"] <= 1.0 for r in rows)  # chance is 1/6
    assert result["n_test"] == round(600 * welfare_config.fusion.test_fraction)


def test_ceiling_section_is_a_table_of_readings_by_size():
    ceiling = {
        "model": "m",
        "command": "shanyraq welfare ceiling",
        "n_families": 100,
        "seed": 0,
        "n_test": 25,
        "rows": [
            {"reading": "a", "n_train": 10, "accuracy": 0.5},
            {"reading": "a", "n_train": 20, "accuracy": 0.625},
            {"reading": "b", "n_train": 10, "accuracy": 0.75},
        ],
    }
    lines = ceiling_lines(ceiling)
    assert "| a | 50.0 % | 62.5 % |" in lines
    assert "| b | 75.0 % | n/a |" in lines
    assert ceiling_lines(None) == []
