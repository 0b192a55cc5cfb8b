"""A fusion model whose fusion.json cannot be read as metadata is told a command that builds it
again where it is, as complete as its folder and what is left of its metadata tell.

Before, such a refusal (keys unknown or missing, values of another kind, not JSON, not UTF-8)
named a bare `shanyraq welfare train` or `train-engine`: run as named, it trained every
registered model into the default --out (or an engine model at the defaults), on the recipe's
data without --keep-meaningless, and the broken folder stayed as it was.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.welfare.damaged_meta_helpers import WITH_METRICS, WITHOUT, refusal, run
from tests.welfare.engine_command_helpers import (
    accepted,
)
from tests.welfare.engine_study_helpers import PAIR, SEED, SIZE, N
from tests.welfare.named_command_helpers import named_args, option
from welfare.fusion import FusionModel
from welfare.model_folder import read_meta
from welfare.real_training import ENGINE_MODEL
from welfare.train import load_trained_together

# Each test runs from its own tmp_path: a command's default --cache and --out land there.
pytestmark = pytest.mark.usefixtures("in_tmp")

# From tests/welfare/conftest.py, the fixtures `pair`, `engine_model`:
# lgbm_fused and lgbm_tabular as `welfare train` saves them on the small recipe's data (48, 5),
# and lgbm_fused_engine as `welfare train-engine` does on 6 of its training families at 64 px,
# both kept with --keep-meaningless.

runner = CliRunner()


# --- a model of `welfare train`, in its --out -----------------------------------------------


@pytest.mark.parametrize("damage", [*WITH_METRICS, *WITHOUT])
def test_a_train_model_is_told_the_train_command_that_rebuilds_its_folder(
    pair, tmp_path, config, cli_config, damage
):
    """Its metrics give its data; without them, the folder's other models give theirs."""
    out = Path(shutil.copytree(pair, tmp_path / "wf"))
    folder = out / "lgbm_tabular"
    {**WITH_METRICS, **WITHOUT}[damage](folder)
    text = refusal(folder, config)
    args = named_args(text, "train")
    assert option(args, "--out") == str(out) and option(args, "--model") == "lgbm_tabular", text
    assert (option(args, "--n"), option(args, "--seed")) == (str(N), str(SEED)), text
    assert {"--overwrite", "--keep-meaningless"} <= set(args), text
    cli_config(config)
    run("train", args)
    FusionModel.load(folder, config=config)
    models, data = load_trained_together(out, config)
    assert set(models) == set(PAIR) and data == (N, SEED)


def test_a_train_model_alone_with_no_data_left_is_told_which_options_to_give(
    pair, tmp_path, config
):
    out = tmp_path / "wf"
    folder = Path(shutil.copytree(pair / "lgbm_tabular", out / "lgbm_tabular"))
    WITHOUT["not JSON"](folder)
    text = refusal(folder, config)
    args = named_args(text, "train")
    assert "--n" not in args and option(args, "--model") == "lgbm_tabular", text
    assert "with --n and --seed of the data it was trained on" in text, text
    assert f"neither its fusion.json nor another model in {out} records" in text, text


# --- a model of `welfare train-engine`, in its own folder ---------------------------------


@pytest.mark.parametrize("damage", list(WITH_METRICS))
def test_an_engine_model_is_told_the_train_engine_command_with_every_option_it_records(
    engine_model, tmp_path, config, cli_config, damage
):
    folder = Path(shutil.copytree(engine_model, tmp_path / "models" / ENGINE_MODEL))
    WITH_METRICS[damage](folder)
    text = refusal(folder, config)
    assert "`shanyraq welfare train`" not in text and "`shanyraq welfare train " not in text, text
    args = named_args(text, "train-engine")
    assert option(args, "--out") == str(folder) and "--overwrite" in args, text
    assert option(args, "--vision") == str(vision_dir_of(folder)), text
    assert (option(args, "--size"), option(args, "--families")) == (str(SIZE), "6"), text
    cli_config(config)
    run("train-engine", args)
    accepted(folder, config, n=N, seed=SEED)


def vision_dir_of(folder: Path) -> Path:
    """The vision model's folder the engine model in `folder` learned from, as trained."""
    return Path(json.loads((folder / "fusion.json").read_text())["metrics"]["data"]["vision_dir"])


def test_an_engine_model_with_nothing_left_is_told_which_options_to_give(
    engine_model, tmp_path, config, cli_config
):
    folder = Path(shutil.copytree(engine_model, tmp_path / "models" / ENGINE_MODEL))
    recorded = read_meta(folder).metrics["data"]
    WITHOUT["not JSON"](folder)
    text = refusal(folder, config)
    args = named_args(text, "train-engine")
    assert args == ["--out", str(folder), "--overwrite"], text
    assert "giving --vision, --size, --n, --seed, --families and --subset-seed as it was" in text
    assert "its folder is not named as a model `shanyraq welfare train` saves" in text, text
    # Given as it was trained, the command named builds the folder again.
    given = ["--vision", recorded["vision_dir"], "--size", str(recorded["size"]), "--n", str(N)]
    given += ["--seed", str(SEED), "--families", "6", "--subset-seed", "3", "--keep-meaningless"]
    cli_config(config)
    run("train-engine", [*args, *given])
    accepted(folder, config, n=N, seed=SEED)
