"""A seed `shanyraq synth` cannot draw with is refused as a usage error naming --seed.

Before, `synth photos`, `synth families` and `synth sheet` took `--seed -3`, and numpy's
default_rng then failed inside the generator with "ValueError: expected non-negative
integer": no usage error, no option named, after the output folder was checked.
"""

from __future__ import annotations

import pytest
from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from shanyraq.cli import build_app
from tests.refusals import must_not_run
from training.synth.cli import app

runner = CliRunner()

# (command, its other arguments, what must not run for it): every command with a --seed.
COMMANDS = [
    ("photos", ["--n", "2", "--out", "out"], "training.synth.photos.generate_photos"),
    ("families", ["--n", "2", "--out", "out"], "training.synth.families.generate_families"),
    ("sheet", ["manifest.csv", "--out", "sheet.png"], "training.synth.sheet.contact_sheet"),
]


@pytest.mark.parametrize(("command", "args", "work"), COMMANDS)
@pytest.mark.parametrize("seed", ["-3", "-1"])
def test_a_negative_seed_is_a_usage_error_naming_it(
    tmp_path, monkeypatch, command, args, work, seed
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(work, must_not_run(work))
    result = runner.invoke(build_app(), ["synth", command, *args, "--seed", seed])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--seed'" in result.output, result.output
    assert "greater than or equal to 0" in result.output, result.output
    assert f"see `shanyraq synth {command} --help`" in result.output, result.output
    assert "Traceback" not in result.output and "non-negative" not in result.output
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())


@pytest.mark.parametrize(("command", "args", "work"), COMMANDS)
def test_seed_zero_and_up_are_taken(command, args, work):
    group = get_command(app)
    assert isinstance(group, TyperGroup)
    for seed in (0, 1, 2**63):
        context = group.commands[command].make_context(command, [*args, "--seed", str(seed)])
        assert context.params["seed"] == seed
