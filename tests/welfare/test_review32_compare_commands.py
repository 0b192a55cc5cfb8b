"""A folder's refusal that sends its engine model to a folder of its own names, after the command
that trains it again there, the whole `welfare evaluate-real` command that compares it with the
folder's models; and every command it names runs, as written and in its order.

Before, a folder under another poverty line (`check_label_bases`) or of models trained on
different data (`mixed_data`) said only to give the engine model's new folder to `welfare
evaluate-real` as --engine-model: no command, so no --vision, --size or --families (whose default,
400, is refused on a smaller test split); nor that evaluate-real needs lgbm_fused and lgbm_tabular
in its --model folder. And it named `welfare train` for the folder's other models before moving
the engine model out, which that command refuses: it never trains beside a model of other data.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shanyraq.errors import ModelMismatchError
from tests.welfare.engine_command_helpers import (
    moved_as_said,
    with_engine,
)
from tests.welfare.engine_study_helpers import SEED, SIZE, N
from tests.welfare.named_command_helpers import NAMED, named, option
from tests.welfare.welfare_config_helpers import other_poverty_line
from welfare.cli import app
from welfare.model_folder import read_meta
from welfare.real_training import ENGINE_MODEL
from welfare.train import load_models, load_trained_together, train_models

# Each test runs from its own tmp_path: a command's default --cache and --out land there.
pytestmark = pytest.mark.usefixtures("in_tmp")

# From tests/welfare/conftest.py, the fixtures `pair`, `engine_model`:
# lgbm_fused and lgbm_tabular as `welfare train` saves them on the small recipe's data (48, 5),
# and lgbm_fused_engine as `welfare train-engine` does on 6 of its training families at 64 px,
# both kept with --keep-meaningless.

TEST_FAMILIES = 12  # the test split of 48 families at test_fraction 0.25
runner = CliRunner()


def refused(call, *args) -> str:
    with pytest.raises(ModelMismatchError) as caught:
        call(*args)
    return str(caught.value)


def run_as_said(text: str, out: Path) -> list[list[str]]:
    """Do what `text` says, in its order: move each engine model of `out` where it says, then run
    every command it names with options, as written; the evaluate-real ones' arguments."""
    moved_as_said(text, out)
    compared = []
    for command, args in NAMED.findall(text):
        if not args:  # a command named, not one to run
            continue
        ran = runner.invoke(app, [command, *shlex.split(args)])
        assert ran.exit_code == 0, (command, args, ran.output, ran.exception)
        if command == "evaluate-real":
            assert f"{ENGINE_MODEL} | engine: accuracy" in ran.output, ran.output
            compared.append(shlex.split(args))
    return compared


def test_a_folder_under_another_line_names_the_evaluate_real_command_that_compares_them(
    engine_model, pair, tmp_path, config, cli_config
):
    out = with_engine(pair, engine_model, tmp_path)
    moved = other_poverty_line(config)
    text = refused(load_models, out, moved)
    assert named(text) == ["train-engine", "train-engine", "train", "evaluate-real"], text
    cli_config(moved)
    (args,) = run_as_said(text, out)
    assert option(args, "--model") == str(out), text
    assert option(args, "--engine-model") == str(out / "engine" / ENGINE_MODEL), text
    assert option(args, "--vision") == str(vision_dir_of(engine_model)), text
    assert (option(args, "--size"), option(args, "--families")) == (str(SIZE), str(TEST_FAMILIES))
    assert load_trained_together(out, moved)[1] == (N, SEED)


def test_models_on_different_data_name_the_pair_evaluate_real_needs_and_its_command(
    engine_model, tmp_path, config, cli_config
):
    """The folder holds rf_tabular alone beside the engine model: evaluate-real needs lgbm_fused
    and lgbm_tabular there, trained on the same data, so the refusal names that first."""
    out = tmp_path / "wf"
    train_models(out, n=N, seed=6, names=["rf_tabular"], config=config, keep_meaningless=True)
    shutil.copytree(engine_model, out / ENGINE_MODEL)
    text = refused(load_trained_together, out, config)
    assert named(text) == ["train-engine", "train", "train-engine", "train", "evaluate-real"]
    assert f"train lgbm_fused, lgbm_tabular into {out} on the same data" in text, text
    cli_config(config)
    (args,) = run_as_said(text, out)
    assert option(args, "--engine-model") == str(out / "engine" / ENGINE_MODEL), text
    models, data = load_trained_together(out, config)
    assert set(models) == {"lgbm_fused", "lgbm_tabular", "rf_tabular"} and data == (N, 6)


def vision_dir_of(folder: Path) -> Path:
    """The vision model's folder the engine model in `folder` learned from, as recorded."""
    return Path(read_meta(folder).metrics["data"]["vision_dir"])
