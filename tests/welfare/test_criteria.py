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
    ("cut", "accepted"), [(0.1, False), (0.5, True), (0.7, True), (0.05, False), (0.8, False)]
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


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["targets"].update(level_accuracy=92),  # a percentage where a share belongs
            r"key 'targets.level_accuracy': Input should be less than or equal to 1 \(got 92\)",
        ),
        (
            lambda d: d["targets"].update(exclusion_error=-0.03),
            r"key 'targets.exclusion_error': Input should be greater than or equal to 0",
        ),
        (
            lambda d: d["targets"].update(hidden_income_gain_points=-5),
            r"key 'targets.hidden_income_gain_points': Input should be greater than or equal to 0",
        ),
        (
            lambda d: d["targets"].pop("needs_review_rate"),
            r"key 'targets.needs_review_rate': Field required",
        ),
        (
            lambda d: d["targets"].update(level_acuracy=0.9),
            r"key 'targets.level_acuracy': Extra inputs",
        ),
        (lambda d: d.pop("targets"), r"key 'targets': Field required"),  # no code default
    ],
)
def test_invalid_targets_are_refused_at_load(tmp_path, change, message):
    data = yaml.safe_load(REAL.read_text())
    change(data)
    path = tmp_path / "welfare.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message):
        load_welfare_config(path)


def test_targets_are_the_issue_figures_and_decide_no_assessment(tmp_path):
    """The issue's targets; changing them leaves the digest assessments record alone."""
    from serving.outcome_basis import OUTCOME_CONFIG_PARTS

    config = load_welfare_config()
    assert config.targets.model_dump() == {
        "level_accuracy": 0.92,
        "hidden_income_gain_points": 5.0,
        "exclusion_error": 0.03,
        "needs_review_rate": 0.15,
    }
    data = yaml.safe_load(REAL.read_text())
    data["targets"]["level_accuracy"] = 0.95
    path = tmp_path / "welfare.yaml"
    path.write_text(yaml.safe_dump(data))
    changed = load_welfare_config(path)
    assert changed.digest(OUTCOME_CONFIG_PARTS) == config.digest(OUTCOME_CONFIG_PARTS)
    assert changed.digest() != config.digest()  # the whole-file digest reports record does
    # A measurement (real_scores.json) is not stale for a changed target, but is for a rule.
    assert changed.measured_digest() == config.measured_digest()
    data["rules"]["level6"]["combine"] = "any" if config.rules.level6.combine == "all" else "all"
    path.write_text(yaml.safe_dump(data))
    assert load_welfare_config(path).measured_digest() != config.measured_digest()
