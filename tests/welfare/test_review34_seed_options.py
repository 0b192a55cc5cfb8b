"""A seed the welfare CLI cannot draw with is refused as a usage error naming its option.

Before, `shanyraq welfare train --seed -3` (and `ceiling --seed`, `train-engine --seed` and
`--subset-seed`) was taken, and numpy's default_rng then failed deep inside training with
"ValueError: expected non-negative integer": no usage error, no option named. And a seed or
subset seed of -3 recorded in a model's data was named in the command told to train it again,
a command that failed the same way.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from shanyraq.cli import build_app
from tests.refusals import must_not_run
from tests.welfare.recorded_metrics_helpers import command_args, parsed, told
from welfare.model_data import option_value, recorded_data

runner = CliRunner()

# (command, seed option, its parameter, what must not run for it): every seed option of
# `shanyraq welfare`.
ENGINE = "welfare.real_training.train_on_engine_scores"
SEED_OPTIONS = [
    ("train", "--seed", "seed", "welfare.train.train_models"),
    ("ceiling", "--seed", "seed", "welfare.ceiling.measure_ceiling"),
    ("train-engine", "--seed", "seed", ENGINE),
    ("train-engine", "--subset-seed", "subset_seed", ENGINE),
]


@pytest.mark.parametrize(("command", "option", "param", "work"), SEED_OPTIONS)
@pytest.mark.parametrize("seed", ["-3", "-1"])
def test_a_negative_seed_is_a_usage_error_naming_its_option(
    tmp_path, monkeypatch, command, option, param, work, seed
):
    monkeypatch.chdir(tmp_path)  # a default --out or --cache would land here
    monkeypatch.setattr(work, must_not_run(work))
    result = runner.invoke(build_app(), ["welfare", command, option, seed])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.output, result.output
    assert "greater than or equal to 0" in result.output, result.output
    assert f"see `shanyraq welfare {command} --help`" in result.output, result.output
    assert "Traceback" not in result.output and "non-negative" not in result.output
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())


@pytest.mark.parametrize(("command", "option", "param", "work"), SEED_OPTIONS)
def test_seed_zero_and_up_are_taken(command, option, param, work):
    for seed in (0, 1, 2**63):
        assert parsed([option, str(seed)], command)[param] == seed


def test_a_negative_subset_seed_is_no_value_train_engine_takes():
    assert option_value("train-engine", "--subset-seed", -3) is None
    assert option_value("train-engine", "--subset-seed", 0) == 0


def test_a_recorded_negative_subset_seed_is_left_out_of_the_command_and_said():
    text, options = told(train_families=6, subset_seed=-3)
    assert "--subset-seed" not in command_args(text), text
    assert options["families"] == 6 and options["subset_seed"] == 0, text
    assert "with --subset-seed of the subset of training families it was trained on" in text


def test_a_recorded_negative_seed_is_left_out_of_the_command_and_said():
    assert recorded_data({"data": {"n": 300, "seed": -3}}) == (300, None)
    assert recorded_data({"data": {"n": 300, "seed": 0}}) == (300, 0)
    text, options = told(seed=-3, train_families=6, subset_seed=3)
    assert "--seed" not in command_args(text) and options["n"] == 300, text
    assert "with --seed of the data it was trained on, which the model does not record" in text


def test_a_negative_recipe_seed_in_the_configuration_is_refused_when_read(tmp_path):
    """configs/welfare.yaml's fusion.seed feeds numpy as the CLI's --seed does: -1 is refused
    when the file is read, naming the field, not deep inside training."""
    from pydantic import ValidationError

    from welfare.criteria import get_welfare_config

    data = get_welfare_config().model_dump(mode="json")
    data["fusion"]["seed"] = -1
    with pytest.raises(ValidationError, match=r"fusion\.seed|seed"):
        type(get_welfare_config()).model_validate(data)
    data["fusion"]["seed"] = 0
    assert type(get_welfare_config()).model_validate(data).fusion.seed == 0
