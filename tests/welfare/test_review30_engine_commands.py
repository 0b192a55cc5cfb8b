"""The commands a refusal names for a model `welfare train-engine` built run as written, and give
a model the check that refused it accepts.

Before, they named `--out FOLDER` (or `--engine-model ITS_FOLDER`), a placeholder, and left out
the options the model was trained with: a model trained on photos rendered at 64 px, by a vision
model of another folder than the default, on a seeded subset of its training families, came out
of the command (had it run at all) at 128 px, scored by the default vision model, on every
training family, and was refused again. welfare/real_training.py's own commands named neither
--out nor --keep-meaningless, which train-engine requires under 100 families; and an engine model
did not record whether it was kept only for that, as `welfare train`'s models do.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shanyraq.errors import ModelMismatchError
from tests.welfare.engine_command_helpers import (
    accepted,
    moved_as_said,
    run_train_engine,
    with_engine,
)
from tests.welfare.engine_study_helpers import PAIR, SEED, SIZE, N
from tests.welfare.named_command_helpers import every_command, named_args, option
from tests.welfare.welfare_config_helpers import other_poverty_line
from welfare.model_data import kept_meaningless
from welfare.model_folder import TrainingDataMismatchError, read_meta
from welfare.real_evaluation import measure_real_scores
from welfare.real_training import ENGINE_MODEL, load_engine_trained
from welfare.retrain_words import train_engine_again
from welfare.train import evaluate_saved, load_models, load_trained_together, train_models

# Each test runs from its own tmp_path: a command's default --cache and --out land there.
pytestmark = pytest.mark.usefixtures("in_tmp")

# From tests/welfare/conftest.py, the fixtures `engine_model`, `pair`:
# lgbm_fused_engine as `welfare train-engine` builds it on the small recipe's data (48, 5): 6 of
# its training families (subset seed 3), photos rendered at 64 px, kept with --keep-meaningless;
# lgbm_fused and lgbm_tabular as `welfare train` builds them on the same data.

runner = CliRunner()


def test_an_engine_model_records_its_vision_folder_and_that_it_was_kept_meaningless(
    engine_model, vision_dir
):
    data = read_meta(engine_model).metrics["data"]
    assert data["vision_dir"] == str(vision_dir)
    assert data["meaningless"] is True and kept_meaningless({"data": data})  # 48 families


def test_a_model_that_does_not_record_its_vision_folder_is_told_which_it_needs(engine_model):
    """Saved before the folder was recorded: the command leaves --vision to the reader, naming
    the vision model it learned from, rather than the default folder's (another model)."""
    meta = read_meta(engine_model)
    data = {k: v for k, v in meta.metrics["data"].items() if k != "vision_dir"}
    older = replace(meta, metrics={**meta.metrics, "data": data})
    text = train_engine_again(Path("own"), older)
    assert "--vision" not in named_args(text, "train-engine"), text
    assert text.endswith(f", with --vision the folder of vision model {data['vision_model']}")


def test_under_another_line_the_engine_command_runs_as_written(
    engine_model, pair, tmp_path, config, cli_config
):
    out = with_engine(pair, engine_model, tmp_path)
    moved = cli_config(other_poverty_line(config))
    with pytest.raises(ModelMismatchError) as caught:
        load_models(out, moved)
    text = str(caught.value)
    (args,) = every_command(text, "train-engine")
    assert "FOLDER" not in text and "--keep-meaningless" in args, text
    own = moved_as_said(text, out)[ENGINE_MODEL]
    assert option(args, "--out") == str(own) and own.parent.parent == out, text
    run_train_engine(args)
    accepted(own, moved, n=N, seed=SEED)


def test_on_other_data_the_engine_command_runs_as_written(engine_model, tmp_path, config):
    out = tmp_path / "wf"
    train_models(out, n=N, seed=6, names=["rf_tabular"], config=config, keep_meaningless=True)
    shutil.copytree(engine_model, out / ENGINE_MODEL)
    with pytest.raises(ModelMismatchError) as caught:
        load_trained_together(out, config)
    text = str(caught.value)
    (args,) = every_command(text, "train-engine")
    own = moved_as_said(text, out)[ENGINE_MODEL]
    n, seed = int(option(args, "--n")), int(option(args, "--seed"))
    run_train_engine(args)
    accepted(own, config, n=n, seed=seed)
    load_trained_together(out, config)  # the folder then holds rf_tabular alone


def test_training_beside_an_engine_model_names_its_command_as_it_runs(
    engine_model, tmp_path, config
):
    out = tmp_path / "wf"
    shutil.copytree(engine_model, out / ENGINE_MODEL)
    with pytest.raises(TrainingDataMismatchError) as caught:
        train_models(out, n=N, seed=6, names=["lgbm_tabular"], config=config,
                     keep_meaningless=True)  # fmt: skip
    text = caught.value.message
    (args,) = every_command(text, "train-engine")
    assert (option(args, "--n"), option(args, "--seed")) == (str(N), "6"), text  # the new data
    own = moved_as_said(text, out)[ENGINE_MODEL]
    run_train_engine(args)
    accepted(own, config, n=N, seed=6)
    train_models(out, n=N, seed=6, names=["lgbm_tabular"], config=config, keep_meaningless=True)


@pytest.mark.parametrize("asked", ["other data", "another size"])
def test_the_study_s_own_refusal_names_a_command_that_runs_as_written(
    engine_model, tmp_path, config, asked
):
    folder = Path(shutil.copytree(engine_model, tmp_path / ENGINE_MODEL))
    seed, size = (6, SIZE) if asked == "other data" else (SEED, 2 * SIZE)
    vision = read_meta(folder).metrics["data"]["vision_model"]
    with pytest.raises(ModelMismatchError) as caught:
        load_engine_trained(folder, n=N, seed=seed, vision_model=vision, size=size, config=config)
    text = str(caught.value)
    (args,) = every_command(text, "train-engine")
    assert option(args, "--out") == str(folder) and "--overwrite" in args, text
    assert "--keep-meaningless" in args and option(args, "--size") == str(size), text
    run_train_engine(args)
    model = load_engine_trained(
        folder, n=N, seed=seed, vision_model=vision, size=size, config=config
    )
    assert model.meta.metrics["data"]["train_families"] == 6


def test_evaluate_names_the_engine_model_s_own_folder_and_options(
    engine_model, pair, vision_dir, tmp_path, config
):
    out = with_engine(pair, engine_model, tmp_path)
    with pytest.raises(ModelMismatchError) as caught:
        evaluate_saved(out, n_boot=2, config=config)
    text = str(caught.value)
    assert "ITS_FOLDER" not in text, text
    (args,) = every_command(text, "evaluate-real")
    own = moved_as_said(text, out)[ENGINE_MODEL]
    assert option(args, "--engine-model") == str(own) and option(args, "--model") == str(out)
    assert (option(args, "--vision"), option(args, "--size")) == (str(vision_dir), str(SIZE))
    result = measure_real_scores(
        Path(option(args, "--model")), engine_model=Path(option(args, "--engine-model")),
        vision_dir=Path(option(args, "--vision")), size=int(option(args, "--size")),
        n_families=4, cache_dir=None, n_boot=20, config=config,
    )  # fmt: skip
    assert result["engine_trained"] == ENGINE_MODEL


def test_the_study_names_the_engine_model_s_own_folder_and_options(
    engine_model, pair, vision_dir, tmp_path, config
):
    out = with_engine(pair, engine_model, tmp_path)
    shutil.copytree(engine_model, out / "engine_copy")
    with pytest.raises(ModelMismatchError) as caught:
        measure_real_scores(
            out, vision_dir=vision_dir, n_families=4, size=2 * SIZE, cache_dir=None, n_boot=20,
            config=config,
        )  # fmt: skip
    text = str(caught.value)
    assert "ITS_FOLDER" not in text and "engine_copy, lgbm_fused_engine were built" in text, text
    commands = every_command(text, "evaluate-real")
    owns = moved_as_said(text, out)
    assert sorted(option(args, "--engine-model") for args in commands) == sorted(
        str(own) for own in owns.values()
    ), text
    assert {option(args, "--size") for args in commands} == {str(SIZE)}, text  # as trained
    args = commands[0]
    result = measure_real_scores(
        Path(option(args, "--model")), engine_model=Path(option(args, "--engine-model")),
        vision_dir=Path(option(args, "--vision")), size=int(option(args, "--size")),
        n_families=4, cache_dir=None, n_boot=20, config=config,
    )  # fmt: skip
    assert set(result["fusion_models"]) == {ENGINE_MODEL, *PAIR}
