"""The train-engine and evaluate-real commands the remaining refusals name run as written, from
any working folder, and give what the check that named them accepts.

Before, a model `welfare train-engine` built, refused on load for another poverty line, or by
evaluate-real for photo scores made with other settings, was told to run a bare
`shanyraq welfare train-engine`: run as named, it trained a model at the defaults (another
--out, --vision, --size, every training family), which the next check refused again. The
evaluate-real command a refusal named gave no --families, whose default (400) is refused on a
test split smaller than that. And train-engine recorded its --vision as given, so a relative
folder named in a later command held only from the folder it was run in.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from shanyraq.errors import ModelMismatchError
from tests.welfare.engine_command_helpers import (
    accepted,
    moved_as_said,
    run_train_engine,
    with_engine,
)
from tests.welfare.engine_study_helpers import SEED, SIZE, N
from tests.welfare.fusion_file_helpers import rewrite
from tests.welfare.named_command_helpers import option, the_command
from tests.welfare.welfare_config_helpers import other_poverty_line
from welfare.cli import app
from welfare.engine_record import VISION_DIR
from welfare.fusion import FusionModel
from welfare.model_folder import read_meta
from welfare.real_evaluation import measure_real_scores
from welfare.real_score_cache import score_settings
from welfare.real_scores import study_engine
from welfare.real_scoring_check import check_scoring
from welfare.real_training import ENGINE_MODEL, load_engine_trained
from welfare.retrain_words import STUDY_FAMILIES, train_engine_again
from welfare.train import evaluate_saved

# Each test runs from its own tmp_path: a command's default --cache and --out land there.
pytestmark = pytest.mark.usefixtures("in_tmp")

# From tests/welfare/conftest.py, the fixtures `engine_model`, `pair`:
# lgbm_fused_engine as `welfare train-engine` builds it on the small recipe's data (48, 5): 6 of
# its 36 training families (subset seed 3), photos rendered at 64 px, kept with
# --keep-meaningless; lgbm_fused and lgbm_tabular as `welfare train` builds them on the same data.

TEST_FAMILIES = 12  # the test split of (48, 5) at test_fraction 0.25
runner = CliRunner()


# --- a model of another line: trained again where it is, with every option it records --------


def test_an_engine_model_of_another_line_is_told_a_command_that_runs_as_written(
    engine_model, tmp_path, config, cli_config, vision_dir
):
    folder = Path(shutil.copytree(engine_model, tmp_path / "models" / ENGINE_MODEL))
    moved = cli_config(other_poverty_line(config))
    with pytest.raises(ModelMismatchError) as caught:
        FusionModel.load(folder, config=moved)
    text = str(caught.value)
    args = the_command(text)
    assert option(args, "--out") == str(folder) and "--overwrite" in args, text
    assert option(args, "--vision") == str(vision_dir.resolve()), text
    assert (option(args, "--size"), option(args, "--families")) == (str(SIZE), "6"), text
    run_train_engine(args)
    accepted(folder, moved, n=N, seed=SEED)  # FusionModel.load under `moved`, then the study's


def test_the_label_basis_refusal_of_a_model_without_its_folder_says_which_it_needs(
    engine_model, tmp_path, config
):
    meta = read_meta(engine_model)
    data = {k: v for k, v in meta.metrics["data"].items() if k != VISION_DIR}
    folder = Path(shutil.copytree(engine_model, tmp_path / ENGINE_MODEL))
    rewrite(folder, lambda d: d["metrics"].update(data=data))
    with pytest.raises(ModelMismatchError) as caught:
        FusionModel.load(folder, config=other_poverty_line(config))
    text = str(caught.value)
    assert "--vision" not in the_command(text), text
    assert text.endswith(f", with --vision the folder of vision model {data['vision_model']}")


# --- evaluate-real: photo scores made with other settings -----------------------------------


def test_scores_made_with_other_settings_name_a_train_engine_command_that_runs_as_written(
    engine_model, pair, vision_dir, tmp_path, config, cli_config, monkeypatch
):
    from vision.engine import get_engine_config

    engine_config = get_engine_config()
    abstain = engine_config.abstain.model_copy(update={"min_room_probability": 0.99})
    changed = engine_config.model_copy(update={"abstain": abstain})
    monkeypatch.setattr("vision.engine.get_engine_config", lambda: changed)
    cli_config(config)
    folder = Path(shutil.copytree(engine_model, tmp_path / "engine" / ENGINE_MODEL))
    with pytest.raises(ModelMismatchError, match="abstain thresholds") as caught:
        measure_real_scores(
            pair, engine_model=folder, vision_dir=vision_dir, n_families=4, size=SIZE,
            cache_dir=None, n_boot=20, config=config,
        )  # fmt: skip
    text = str(caught.value)
    args = the_command(text)
    assert option(args, "--out") == str(folder) and "--overwrite" in args, text
    assert option(args, "--vision") == str(vision_dir.resolve()), text
    run_train_engine(args)
    accepted(folder, config, n=N, seed=SEED)
    now = score_settings(study_engine(vision_dir), size=SIZE, model_dir=vision_dir)
    assert check_scoring(FusionModel.load(folder), folder=folder, now=now) == []


# --- evaluate-real: as many test families as the split holds --------------------------------


def test_evaluate_real_s_default_families_is_the_one_the_refusals_cap_at():
    group = get_command(app)
    assert isinstance(group, TyperGroup)
    (families,) = [p for p in group.commands["evaluate-real"].params if p.name == "families"]
    assert families.default == STUDY_FAMILIES


@pytest.mark.parametrize("refusal", ["evaluate", "evaluate-real"])
def test_the_evaluate_real_command_named_runs_as_written_on_a_small_split(
    engine_model, pair, vision_dir, tmp_path, config, cli_config, refusal
):
    out = with_engine(pair, engine_model, tmp_path)
    with pytest.raises(ModelMismatchError) as caught:
        if refusal == "evaluate":
            evaluate_saved(out, n_boot=2, config=config)
        else:
            measure_real_scores(
                out, vision_dir=vision_dir, n_families=4, size=SIZE, cache_dir=None, n_boot=2,
                config=config,
            )  # fmt: skip
    text = str(caught.value)
    args = the_command(text, "evaluate-real")
    own = moved_as_said(text, out)[ENGINE_MODEL]
    assert option(args, "--engine-model") == str(own), text
    cli_config(config)
    ran = runner.invoke(app, ["evaluate-real", *args])
    assert ran.exit_code == 0, (args, ran.output, ran.exception)  # 400 families: refused on 12
    assert f"{ENGINE_MODEL} | engine: accuracy" in ran.output
    assert option(args, "--families") == str(TEST_FAMILIES), text  # the whole test split


# --- the vision model's folder, from any working folder -------------------------------------


def test_train_engine_records_its_vision_folder_absolute_and_its_command_runs_elsewhere(
    vision_dir, tmp_path, config, cli_config, monkeypatch
):
    here = tmp_path / "here"
    shutil.copytree(vision_dir, here / "vision")
    monkeypatch.chdir(here)
    cli_config(config)
    folder = tmp_path / "models" / ENGINE_MODEL
    run_train_engine(
        ["--n", str(N), "--seed", str(SEED), "--families", "6", "--subset-seed", "3",
         "--size", str(SIZE), "--vision", "vision", "--out", str(folder), "--keep-meaningless",
         "--cache", str(tmp_path / "cache")]
    )  # fmt: skip
    recorded = read_meta(folder).metrics["data"][VISION_DIR]
    assert recorded == str((here / "vision").resolve()), recorded
    monkeypatch.chdir(tmp_path / "models")  # elsewhere: "vision" is nothing here
    vision = read_meta(folder).metrics["data"]["vision_model"]
    with pytest.raises(ModelMismatchError) as caught:
        load_engine_trained(folder, n=N, seed=SEED, vision_model=vision, size=2 * SIZE)
    args = the_command(str(caught.value))
    assert option(args, "--vision") == recorded, args
    run_train_engine(args)
    model = load_engine_trained(folder, n=N, seed=SEED, vision_model=vision, size=2 * SIZE)
    assert model.meta.metrics["data"]["size"] == 2 * SIZE


def test_a_vision_folder_recorded_relative_is_named_where_it_holds_that_vision_model(
    engine_model, vision_dir, tmp_path, monkeypatch
):
    """A model saved before the folder was recorded absolute: its relative --vision is named,
    absolute, from the working folder where it holds the vision model the model learned from;
    elsewhere the command says which vision model's folder to give, and what it was."""
    here = tmp_path / "here"
    shutil.copytree(vision_dir, here / "vision")
    meta = read_meta(engine_model)
    data = {**meta.metrics["data"], VISION_DIR: "vision"}
    older = replace(meta, metrics={**meta.metrics, "data": data})
    monkeypatch.chdir(here)
    text = train_engine_again(Path("own"), older)
    assert option(the_command(text), "--vision") == str((here / "vision").resolve()), text
    monkeypatch.chdir(tmp_path)  # "vision" is nothing here
    text = train_engine_again(Path("own"), older)
    assert "--vision" not in the_command(text), text
    assert text.endswith(
        f", with --vision the folder of vision model {data['vision_model']} (it was trained with "
        "--vision vision, which does not hold it here)"
    ), text
    (tmp_path / "vision").mkdir()  # a folder of that name, but no vision model in it
    assert "--vision" not in the_command(train_engine_again(Path("own"), older))


# --- evaluate-real: a model of another vision model's scores --------------------------------


def test_a_model_of_another_vision_model_is_told_the_folder_scoring_the_photos_now(
    engine_model, vision_dir
):
    """The scoring knows the vision model's folder (evaluate-real's --vision): the command that
    trains the model again names it, not a note asking the reader for it."""
    with pytest.raises(ModelMismatchError, match="scored by other-model now") as caught:
        load_engine_trained(
            engine_model, n=N, seed=SEED, vision_model="other-model", vision_dir=vision_dir
        )
    text = str(caught.value)
    assert option(the_command(text), "--vision") == str(vision_dir.resolve()), text
    assert "with --vision the folder of vision model" not in text, text
