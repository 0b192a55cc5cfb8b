"""The `welfare train` command a refusal names for a model that command built gives every option
the model records (its data's --n and --seed, its --model, --keep-meaningless where it was kept
only with it; --out and --overwrite for one read from a folder), and run as written it builds the
model refused again, of the same version.

Before, such a model was told a bare `shanyraq welfare train`: run as named, it trained every
registered model on the recipe's data into artifacts/welfare, maybe on other data than the model
refused, and never where the refused one is.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shanyraq.errors import ModelMismatchError
from tests.welfare.engine_study_helpers import SEED, N
from tests.welfare.fusion_file_helpers import refused_load, rewrite
from tests.welfare.named_command_helpers import option, the_command
from tests.welfare.retrain_helpers import MOVE
from welfare.cli import app
from welfare.fusion import FusionModel
from welfare.model_folder import read_meta
from welfare.train import train_models

# From tests/welfare/conftest.py, the fixture `pair`:
# lgbm_fused and lgbm_tabular as `welfare train` saves them on the small recipe's data (48, 5):
# too few families for a recipe, so saved with --keep-meaningless.

BARE = "`shanyraq welfare train`"
runner = CliRunner()


def refused_in_memory(model: FusionModel) -> str:
    """The refusal of a family lacking the model's features: it names the command."""
    with pytest.raises(ModelMismatchError, match="needs features") as caught:
        model.predict(pd.DataFrame({"other": [1.0]}))
    return str(caught.value)


def run_train(args: list[str]) -> str:
    """Run `welfare train` with `args`, as a refusal names them; its output."""
    ran = runner.invoke(app, ["train", *args])
    assert ran.exit_code == 0, (args, ran.output, ran.exception)
    return ran.output


def test_a_model_in_its_folder_is_told_every_option_and_the_command_rebuilds_it(
    pair, tmp_path, config, cli_config
):
    out = Path(shutil.copytree(pair, tmp_path / "wf"))
    folder = out / "lgbm_fused"
    version = read_meta(folder).version
    text = refused_load(folder, config)
    assert BARE not in text, text
    args = the_command(text, "train")
    assert option(args, "--out") == str(out), args
    assert (option(args, "--n"), option(args, "--seed")) == (str(N), str(SEED)), args
    assert option(args, "--model") == "lgbm_fused" and args.count("--model") == 1, args
    assert "--overwrite" in args and "--keep-meaningless" in args, args
    assert "first move" not in text, text  # its folder is named as the model
    cli_config(config)
    said = run_train(args)
    assert f"lgbm_fused: {version} -> {folder}" in said, said
    assert FusionModel.load(folder, config=config).meta.version == version


def test_a_model_in_a_renamed_folder_is_told_to_move_it_out_first(
    pair, tmp_path, config, cli_config
):
    out = Path(shutil.copytree(pair, tmp_path / "wf"))
    folder = (out / "lgbm_fused").rename(out / "lgbm_fused_2024")
    version = read_meta(folder).version
    text = refused_load(folder, config)
    args = the_command(text, "train")
    assert option(args, "--out") == str(out) and option(args, "--model") == "lgbm_fused", args
    assert "lgbm_fused_2024" not in args, args
    said = MOVE.search(text)
    assert said is not None and said.groups() == ("lgbm_fused_2024", str(out)), text
    shutil.move(folder, tmp_path / "kept")  # as said: else `welfare train` refuses beside it
    cli_config(config)
    assert f"lgbm_fused: {version} -> {out / 'lgbm_fused'}" in run_train(args)
    assert FusionModel.load(out / "lgbm_fused", config=config).meta.version == version


def test_a_model_in_memory_is_told_to_add_out_and_the_command_rebuilds_it(
    pair, tmp_path, config, cli_config, monkeypatch
):
    saved = FusionModel.load(pair / "lgbm_tabular", config=config)
    in_memory = FusionModel(saved.meta, saved.level_head, saved.asp_head)
    text = refused_in_memory(in_memory)
    assert BARE not in text, text
    args = the_command(text, "train")
    assert (option(args, "--n"), option(args, "--seed")) == (str(N), str(SEED)), args
    assert option(args, "--model") == "lgbm_tabular" and "--keep-meaningless" in args, args
    # Where to keep it is not the model's to know: the refusal says so, and what to add.
    assert "--out" not in args and "--overwrite" not in args, args
    assert "not read from a folder" in text and "with --out the folder of models" in text, text
    monkeypatch.chdir(tmp_path)  # `welfare train`'s default --out lands here
    cli_config(config)
    run_train(args)
    built = tmp_path / "artifacts" / "welfare" / "lgbm_tabular"
    assert FusionModel.load(built, config=config).meta.version == saved.meta.version


def test_a_model_that_does_not_record_its_data_is_told_the_command_lacks_them(
    pair, tmp_path, config
):
    out = Path(shutil.copytree(pair, tmp_path / "wf"))
    rewrite(out / "lgbm_tabular", lambda d: d["metrics"].pop("data"))
    text = refused_load(out / "lgbm_tabular", config)
    args = the_command(text, "train")
    assert option(args, "--out") == str(out) and option(args, "--model") == "lgbm_tabular", args
    assert "--n" not in args and "--seed" not in args, args
    assert "with --n and --seed of the data it was trained on" in text, text
    assert "which the model does not record" in text, text


def test_models_trained_and_saved_in_one_process_are_told_their_folder(tmp_path, config):
    out = tmp_path / "wf"
    models = train_models(
        out, n=N, seed=SEED, names=["lgbm_tabular"], config=config, keep_meaningless=True
    )
    model = models["lgbm_tabular"]
    assert model.folder == out / "lgbm_tabular"
    args = the_command(refused_in_memory(model), "train")
    assert option(args, "--out") == str(out) and "--overwrite" in args, args
    # One saved on its own is told where it was saved too.
    copy = FusionModel(model.meta, model.level_head, model.asp_head)
    assert copy.folder is None
    copy.save(tmp_path / "other" / "lgbm_tabular")
    assert copy.folder == tmp_path / "other" / "lgbm_tabular"
    text = refused_in_memory(copy)
    assert option(the_command(text, "train"), "--out") == str(tmp_path / "other"), text
    assert "not read from a folder" not in text, text
