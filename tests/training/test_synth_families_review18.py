"""Review 18 of the synthetic family records: every record passes welfare.schema, and a
configs/synth.yaml `families` section the generator cannot honour is refused when read."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
import yaml

from shanyraq.errors import ConfigError
from training.synth.config import load_synth_config
from training.synth.families import generate_families
from welfare.criteria import get_welfare_config
from welfare.schema import record_from_row

REAL = Path(__file__).resolve().parents[2] / "configs" / "synth.yaml"


def _config(tmp_path: Path, **families: object):
    data = yaml.safe_load(REAL.read_text())
    data["families"].update(families)
    path = tmp_path / "synth.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_synth_config(path)


def test_every_generated_record_passes_the_schema_after_a_csv_round_trip():
    welfare_config = get_welfare_config()
    table = generate_families(800, seed=18).table
    back = pd.read_csv(io.StringIO(table.to_csv(index=False)))
    records = [record_from_row(row, config=welfare_config) for row in back.to_dict("records")]
    # Missing values stay explicit: every empty cell is a None criterion, and nothing more.
    assert sum(len(r.missing) for r in records) == int(
        table[welfare_config.criterion_names].isna().sum().sum()
    )
    assert all(r.criteria["per_capita_income_kzt"] is not None for r in records)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("photos_per_family", [10, 3]),
        ("missing_photos_count", [2, 0]),
        ("hidden_income_reported_poverty_multiple", [1.1, 0.45]),
        ("decent_rental_home_welfare", [0.75, 0.55]),
    ],
)
def test_a_reversed_range_is_refused_by_name(tmp_path, key, value):
    with pytest.raises(ConfigError, match=f"{key}.*lower bound"):
        _config(tmp_path, **{key: value})


def test_a_negative_photo_count_is_refused(tmp_path):
    # Was accepted: a family was then planned with a negative number of photos.
    with pytest.raises(ConfigError, match="missing_photos_count"):
        _config(tmp_path, missing_photos_count=[-2, 0])


def test_home_welfare_outside_zero_to_one_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="decent_rental_home_welfare"):
        _config(tmp_path, decent_rental_home_welfare=[0.55, 1.5])


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("level_weights", [-0.1, 0.14, 0.22, 0.26, 0.2, 0.1]),
        ("case_rates", {"hidden_income": -0.05}),
        ("unusable_reasons", {"blurred": -0.1, "too_dark": 0.5}),
    ],
)
def test_a_negative_weight_or_rate_is_refused_by_name(tmp_path, key, value):
    with pytest.raises(ConfigError, match=key):
        _config(tmp_path, **{key: value})


def test_a_non_positive_income_multiple_is_refused(tmp_path):
    # Was accepted: level 1's income became 0 for every family, clipped without a word.
    with pytest.raises(ConfigError, match="income_multiples"):
        _config(tmp_path, income_multiples=[-0.3, 0.55, 0.85, 1.4, 2.4, 5.5])


@pytest.mark.parametrize("levels", [[0, 2], [4, 9], [6, 4]])
def test_case_levels_outside_the_configured_levels_are_refused(tmp_path, levels):
    # [0, 2] used to draw level 0, whose income multiple was silently level 6's (index -1).
    with pytest.raises(ConfigError, match="case_levels"):
        _config(tmp_path, case_levels={"poor_decent_rental": levels})


def test_a_level_count_unlike_welfare_yaml_is_refused_before_generating(tmp_path):
    config = _config(
        tmp_path,
        level_weights=[0.1, 0.2, 0.3, 0.2, 0.2],
        income_multiples=[0.3, 0.55, 0.85, 1.4, 2.4],
        case_levels={"poor_decent_rental": [1, 2]},
    )
    with pytest.raises(ConfigError, match="level_weights"):
        generate_families(5, seed=0, config=config)
