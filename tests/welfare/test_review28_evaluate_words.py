"""`welfare evaluate` tells a model `welfare train-engine` built for what it is, and sends a model
whose training data no longer match to the command, with its options, that trains it again.

Before, both were told "regenerated training data does not match the model's hash; the generator
or configs changed since training; retrain": for a train-engine model wrong on both counts (its
photo scores come from the vision engine, which `welfare evaluate` never regenerates, so no
retraining makes it match), and naming no command. Beside models of other data it was told only
that the models were trained on different data. And a model that does not record its data was
told to `welfare train`, also one `welfare train-engine` built.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shanyraq.errors import ModelMismatchError
from tests.welfare.engine_study_helpers import PAIR, SIZE
from tests.welfare.fusion_file_helpers import rewrite
from tests.welfare.named_command_helpers import named, named_args, option
from welfare.cli import app
from welfare.real_evaluation import measure_real_scores
from welfare.real_training import ENGINE_MODEL
from welfare.train import evaluate_saved, load_trained_together, train_models

runner = CliRunner()


def beside(kind: str, pair: Path, tmp_path: Path, config) -> Path:
    """A folder `wf` for the engine model to be copied into, holding `kind`: the pair trained on
    its data, rf_tabular trained on other data (seed 6), or nothing."""
    out = tmp_path / "wf"
    if kind == "the same data":
        shutil.copytree(pair, out)
    elif kind == "other data":
        n = config.fusion.n_families
        train_models(out, n=n, seed=6, names=["rf_tabular"], config=config, keep_meaningless=True)
    else:
        out.mkdir()
    return out


def refused_evaluation(folder: Path, config) -> str:
    with pytest.raises(ModelMismatchError) as refused:
        evaluate_saved(folder, n_boot=2, config=config)
    return str(refused.value)


# --- a train-engine model in the folder ------------------------------------------------------


@pytest.mark.parametrize("kind", ["the same data", "other data", "nothing"])
def test_a_train_engine_model_is_refused_for_what_it_is(engine_model, pair, tmp_path, config, kind):
    out = beside(kind, pair, tmp_path, config)
    shutil.copytree(engine_model, out / ENGINE_MODEL)
    text = refused_evaluation(out, config)
    assert (
        f"{out}: {ENGINE_MODEL} was built by `shanyraq welfare train-engine` on the vision "
        "engine's photo scores, which `welfare evaluate` does not regenerate" in text
    ), text
    assert "regenerated training data" not in text and "different data" not in text, text
    assert "retrain" not in text and "--overwrite" not in text, text  # retraining cannot help
    assert named(text) == ["train-engine", "evaluate-real", "train"], text
    args = named_args(text, "evaluate-real")
    assert option(args, "--model") == str(out) and "--engine-model" in args, text
    assert "a folder of its own" in text


def test_moved_into_a_folder_of_its_own_it_is_evaluated_as_the_refusal_says(
    engine_model, pair, vision_dir, tmp_path, config
):
    out = beside("the same data", pair, tmp_path, config)
    shutil.copytree(engine_model, out / ENGINE_MODEL)
    text = refused_evaluation(out, config)
    own = Path(shutil.move(out / ENGINE_MODEL, tmp_path / "own" / ENGINE_MODEL))
    evaluated, _ = evaluate_saved(out, n_boot=20, config=config)  # the others, as before
    assert set(evaluated["models"]) == set(PAIR)
    # The command named, as welfare/cli.py calls it: --model the folder, --engine-model its own.
    args = named_args(text, "evaluate-real")
    result = measure_real_scores(
        Path(option(args, "--model")), engine_model=own, vision_dir=vision_dir, n_families=4,
        size=SIZE, cache_dir=None, n_boot=20, config=config,
    )  # fmt: skip
    assert result["engine_trained"] == ENGINE_MODEL
    assert set(result["fusion_models"]) == {ENGINE_MODEL, *PAIR}


def test_two_train_engine_models_are_told_each(engine_model, tmp_path, config):
    out = tmp_path / "wf"
    shutil.copytree(engine_model, out / ENGINE_MODEL)
    shutil.copytree(engine_model, out / "engine_copy")
    text = refused_evaluation(out, config)
    assert f"engine_copy, {ENGINE_MODEL} were built by `shanyraq welfare train-engine`" in text
    assert "move each into a folder of its own and evaluate each there" in text, text


# --- a model whose training data no longer match ---------------------------------------------


def test_a_changed_hash_names_the_command_that_trains_it_again(pair, tmp_path, config):
    out = Path(shutil.copytree(pair, tmp_path / "wf"))
    rewrite(out / "lgbm_fused", lambda d: d.update(training_data_hash="0" * 64))
    text = refused_evaluation(out, config)
    n, seed = config.fusion.n_families, config.fusion.seed
    assert "lgbm_fused: regenerated training data does not match the model's hash" in text, text
    assert (
        f"(`shanyraq welfare train --out {out} --n {n} --seed {seed} --model lgbm_fused "
        "--overwrite --keep-meaningless`)" in text
    ), text
    assert named(text) == ["train"], text
    # The command named trains a set `welfare evaluate` takes (too few families: allowed here).
    ran = runner.invoke(app, ["train", *named_args(text, "train"), "--keep-meaningless"])
    assert ran.exit_code == 0, ran.output
    evaluated, context = evaluate_saved(out, n_boot=20, config=config)
    assert set(evaluated["models"]) == set(PAIR) and context["n_families"] == n


# --- a model that does not say which families it was trained on ------------------------------


@pytest.mark.parametrize(("kind", "command"), [("simulated", "train"), ("engine", "train-engine")])
def test_a_model_without_its_data_is_sent_to_its_own_command(
    engine_model, pair, tmp_path, config, kind, command
):
    source = engine_model if kind == "engine" else pair / "lgbm_fused"
    out = tmp_path / "wf"
    shutil.copytree(source, out / source.name)
    rewrite(out / source.name, lambda d: d["metrics"]["data"].pop("n"))
    with pytest.raises(ModelMismatchError, match="does not say which synthetic") as refused:
        load_trained_together(out, config)  # as `welfare evaluate-real --model` reads it
    assert named(str(refused.value)) == [command], str(refused.value)
