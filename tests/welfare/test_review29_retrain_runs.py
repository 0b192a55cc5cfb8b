"""The `welfare train` command a fusion-model refusal names runs as written, and trains a folder
that loads.

Before, such a command named each model by its folder: one in a renamed folder (lgbm_fused_2024)
got `--model lgbm_fused_2024`, which `welfare train` rejects (it takes the registered models'
names), and training it by its own name would have left the renamed folder as it was. And models
trained with --keep-meaningless (fewer families than a recipe may ask for, or a head that learned
nothing) were named a command without it, which `welfare train` then refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shanyraq.errors import ModelMismatchError
from tests.refusals import error_code
from tests.welfare.engine_study_helpers import PAIR, SEED, N
from tests.welfare.named_command_helpers import named, named_args, option
from tests.welfare.retrain_helpers import MOVE
from tests.welfare.welfare_config_helpers import (
    more_rural_families,
    other_poverty_line,
    with_poverty_line,
)
from welfare.cli import app
from welfare.fusion import FusionModel
from welfare.model_data import kept_meaningless
from welfare.model_folder import read_meta
from welfare.real_families import check_trained_on
from welfare.train import evaluate_saved, load_models, load_trained_together, train_models

# From tests/welfare/conftest.py, the fixture `pair`:
# lgbm_fused and lgbm_tabular as `welfare train` saves them on data (48, 5): too few families
# for a recipe, so trained with --keep-meaningless.

runner = CliRunner()


def run_named(text: str) -> None:
    """Run the `welfare train` command `text` names, as written, through welfare/cli.py."""
    args = named_args(text, "train")
    ran = runner.invoke(app, ["train", *args])
    assert ran.exit_code == 0, (args, ran.output, ran.exception)


def move_as_said(text: str, out: Path, tmp_path: Path) -> list[str]:
    """Move the folders `text` says to move out of `out` first (into tmp_path/kept)."""
    said = MOVE.search(text)
    assert said is not None and said.group(2) == str(out), text
    folders = said.group(1).split(", ")
    for folder in folders:
        shutil.move(out / folder, tmp_path / "kept" / folder)
    return folders


def refused(call, *args, **kwargs) -> str:
    with pytest.raises(ModelMismatchError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def renamed_pair(pair: Path, tmp_path: Path, name: str, to: str) -> Path:
    out = Path(shutil.copytree(pair, tmp_path / "wf"))
    (out / name).rename(out / to)
    return out


# --- models on fewer families than a recipe may ask for --------------------------------------


def test_the_command_for_models_on_few_families_runs_as_written(pair, tmp_path, config, cli_config):
    out = Path(shutil.copytree(pair, tmp_path / "wf"))
    moved = cli_config(other_poverty_line(config))
    text = refused(load_models, out, moved)
    assert named(text) == ["train"], text
    assert "--keep-meaningless" in named_args(text, "train"), text
    run_named(text)
    models, data = load_trained_together(out, moved)
    assert set(models) == set(PAIR) and data == (N, SEED)


@pytest.mark.usefixtures("hand_made_synthetic")
def test_a_model_kept_though_it_learned_nothing_is_retrained_with_the_option(
    tmp_path, cannot_split, cli_config
):
    """On 120 families, enough for a recipe, lgbm_tabular learns nothing where LightGBM cannot
    split: saved only with --keep-meaningless, it records so, and the command carries it."""
    out = tmp_path / "wf"
    train_models(out, n=120, seed=0, names=["lgbm_tabular"], config=cannot_split,
                 keep_meaningless=True)  # fmt: skip
    data = FusionModel.load(out / "lgbm_tabular", config=cannot_split).meta.metrics["data"]
    assert data["meaningless"] is True and kept_meaningless({"data": data})
    moved = cli_config(
        with_poverty_line(cannot_split, cannot_split.thresholds.poverty_line_kzt + 1)
    )
    asked = ["train", "--out", str(out), "--n", "120", "--seed", "0", "--model", "rf_tabular"]
    ran = runner.invoke(app, asked)  # beside lgbm_tabular of the old line: refused
    assert error_code(ran.exception) == "training_data_mixed", ran.output
    text = ran.exception.message
    assert "--model rf_tabular --model lgbm_tabular" in text, text
    assert "--keep-meaningless" in named_args(text, "train"), text
    run_named(text)
    models, source = load_trained_together(out, moved)
    assert set(models) == {"lgbm_tabular", "rf_tabular"} and source == (120, 0)


def test_what_a_model_kept_meaningless_records_and_the_default_of_older_ones(pair):
    assert read_meta(pair / "lgbm_tabular").metrics["data"]["meaningless"] is True  # 48 families
    assert not kept_meaningless({"data": {"n": 120, "seed": 0}})  # older: by its data's count
    assert kept_meaningless({"data": {"n": N, "seed": SEED}})
    assert not kept_meaningless({"data": {"n": 120, "seed": 0, "meaningless": False}})
    assert not kept_meaningless({})


# --- models in folders renamed from their own name -------------------------------------------


def test_a_renamed_model_of_another_line_is_named_by_its_own_name(
    pair, tmp_path, config, cli_config
):
    out = renamed_pair(pair, tmp_path, "lgbm_fused", "lgbm_fused_2024")
    moved = cli_config(other_poverty_line(config))
    text = refused(load_models, out, moved)
    args = named_args(text, "train")
    assert "lgbm_fused_2024" not in args, text
    assert [args[i + 1] for i, a in enumerate(args) if a == "--model"] == PAIR, text
    assert move_as_said(text, out, tmp_path) == ["lgbm_fused_2024"]
    run_named(text)
    models, data = load_trained_together(out, moved)
    assert set(models) == set(PAIR) and data == (N, SEED)
    kept = FusionModel.load(tmp_path / "kept" / "lgbm_fused_2024", config=config)
    assert kept.meta.name == "lgbm_fused"  # moved out as it was


def test_a_renamed_model_on_other_data_is_named_by_its_own_name(pair, tmp_path, config, cli_config):
    out = Path(shutil.copytree(pair, tmp_path / "wf"))
    other = tmp_path / "other"
    train_models(other, n=N, seed=6, names=["rf_tabular"], config=config, keep_meaningless=True)
    shutil.move(other / "rf_tabular", out / "rf_tabular_old")
    text = refused(load_trained_together, out, config)
    assert "rf_tabular_old on data (48 families, seed 6)" in text, text
    args = named_args(text, "train")
    assert option(args, "--model") == "rf_tabular" and "rf_tabular_old" not in args, text
    assert move_as_said(text, out, tmp_path) == ["rf_tabular_old"]
    cli_config(config)
    run_named(text)
    models, data = load_trained_together(out, config)
    assert set(models) == {*PAIR, "rf_tabular"} and data == (N, SEED)


@pytest.mark.usefixtures("hand_made_synthetic")
def test_training_beside_a_renamed_model_of_another_line_names_it_by_its_own_name(
    tmp_path, welfare_config, cli_config
):
    out = tmp_path / "wf"
    train_models(out, n=40, seed=0, names=["lgbm_fused"], config=welfare_config,
                 keep_meaningless=True)  # fmt: skip
    (out / "lgbm_fused").rename(out / "lgbm_fused_2024")
    moved = cli_config(
        with_poverty_line(welfare_config, welfare_config.thresholds.poverty_line_kzt + 1)
    )
    asked = ["train", "--out", str(out), "--n", "40", "--seed", "0", "--model", "rf_fused"]
    ran = runner.invoke(app, [*asked, "--keep-meaningless"])
    assert error_code(ran.exception) == "training_data_mixed", ran.output
    text = ran.exception.message
    assert "--model rf_fused --model lgbm_fused --overwrite" in text, text
    assert move_as_said(text, out, tmp_path) == ["lgbm_fused_2024"]
    run_named(text)
    models, data = load_trained_together(out, moved)
    assert set(models) == {"lgbm_fused", "rf_fused"} and data == (40, 0)


def test_evaluate_names_a_renamed_model_of_other_data_by_its_own_name(
    pair, tmp_path, config, cli_config, monkeypatch
):
    out = renamed_pair(pair, tmp_path, "lgbm_tabular", "lgbm_tabular_v1")
    edited = cli_config(more_rural_families(config, monkeypatch))
    text = refused(evaluate_saved, out, n_boot=2, config=edited)
    assert "regenerated training data does not match" in text, text
    args = named_args(text, "train")
    assert [args[i + 1] for i, a in enumerate(args) if a == "--model"] == PAIR, text
    assert move_as_said(text, out, tmp_path) == ["lgbm_tabular_v1"]
    run_named(text)
    evaluated, _ = evaluate_saved(out, n_boot=2, config=edited)
    assert set(evaluated["models"]) == set(PAIR)


def test_the_study_names_a_command_that_trains_its_models_again(
    pair, tmp_path, config, cli_config, monkeypatch
):
    out = renamed_pair(pair, tmp_path, "lgbm_fused", "lgbm_fused_2024")
    edited = cli_config(more_rural_families(config, monkeypatch))
    text = refused(
        check_trained_on, load_models(out, edited), folder=out, n=N, seed=SEED, config=edited
    )
    assert "--keep-meaningless" in named_args(text, "train"), text
    assert move_as_said(text, out, tmp_path) == ["lgbm_fused_2024"]
    run_named(text)
    check_trained_on(load_models(out, edited), folder=out, n=N, seed=SEED, config=edited)
