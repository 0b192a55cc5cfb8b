"""configs/welfare.yaml: 23 criteria in the five groups, with ranges and sources."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shanyraq.errors import ConfigError
from welfare.criteria import load_welfare_config

REAL = Path(__file__).resolve().parents[2] / "configs" / "welfare.yaml"


def test_real_config_has_23_criteria_in_five_groups():
    config = load_welfare_config()
    assert len(config.criteria) == 23
    assert {c.group for c in config.criteria} == {
        "material",
        "non_material",
        "dependency_load",
        "self_realisation",
        "hidden_income",
    }
    assert all(c.source and c.unit for c in config.criteria)
    assert {"karaganda_region", "shymkent"} <= set(config.regions)
    assert config.level_values == [1, 2, 3, 4, 5, 6]
    assert config.thresholds.poverty_line_kzt < config.thresholds.subsistence_minimum_kzt


def test_range_without_bounds_is_refused(tmp_path):
    data = yaml.safe_load(REAL.read_text())
    del data["criteria"][0]["max"]
    path = tmp_path / "welfare.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="per_capita_income_kzt: a money criterion needs"):
        load_welfare_config(path)


def test_unknown_serving_model_is_refused_at_load(tmp_path):
    data = yaml.safe_load(REAL.read_text())
    data["fusion"]["serving_model"] = "lgbm_fusd"
    path = tmp_path / "welfare.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="serving_model must be one of"):
        load_welfare_config(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["criteria"][8].update(within=["yacht_crew"]), "`within` must name other"),
        (lambda d: d["criteria"][0].update(within=["members_total"]), "only a count can be"),
        (
            lambda d: d["disjoint_counts"][0].update(within="housing_tenure"),
            r"disjoint_counts: \['housing_tenure'\] are not count criteria",
        ),
    ],
)
def test_person_count_relations_must_name_count_criteria(tmp_path, change, message):
    data = yaml.safe_load(REAL.read_text())
    assert data["criteria"][8]["name"] == "members_with_disability"
    change(data)
    path = tmp_path / "welfare.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message):
        load_welfare_config(path)


@pytest.mark.parametrize(
    ("cut", "accepted"), [(0.1, True), (0.5, True), (0.7, True), (0.05, False), (0.8, False)]
)
def test_model_eligible_cut_lies_between_the_bands(tmp_path, cut, accepted):
    data = yaml.safe_load(REAL.read_text())
    data["recommendation"]["model_eligible_cut"] = cut  # bands: 0.10 and 0.70
    path = tmp_path / "welfare.yaml"
    path.write_text(yaml.safe_dump(data))
    if accepted:
        assert load_welfare_config(path).recommendation.model_eligible_cut == cut
        return
    with pytest.raises(ConfigError, match=f"model_eligible_cut {cut} must lie between"):
        load_welfare_config(path)


def test_digest_follows_what_the_config_says(tmp_path):
    config = load_welfare_config()
    data = yaml.safe_load(REAL.read_text())
    path = tmp_path / "welfare.yaml"
    path.write_text("# another comment\n" + yaml.safe_dump(data))
    assert load_welfare_config(path).digest() == config.digest()  # comments do not count
    data["thresholds"]["poverty_line_kzt"] += 1
    path.write_text(yaml.safe_dump(data))
    assert load_welfare_config(path).digest() != config.digest()
