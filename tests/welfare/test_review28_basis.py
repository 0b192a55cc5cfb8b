"""A fusion model refused for its feature basis is sent to the command that builds it, and no
model is trained beside models of another basis.

Before, every refusal on load said to run `welfare train`, also for a model `welfare
train-engine` built (which `welfare train` cannot build: it is no registered model). And after a
code-only FEATURES_VERSION bump, `welfare train --model X` trained X beside the folder's other
models, their training-data hash unchanged, and `welfare evaluate` then refused those.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shanyraq.errors import ModelMismatchError
from tests.refusals import error_code, must_not_run
from tests.welfare.engine_study_helpers import SIZE
from tests.welfare.fusion_file_helpers import older_code, rewrite, snapshot
from welfare.cli import app
from welfare.features import FEATURES_VERSION
from welfare.fusion import FusionModel
from welfare.model_folder import TrainingDataMismatchError
from welfare.train import evaluate_saved, load_trained_together, train_models

runner = CliRunner()
PAIR = ["lgbm_tabular", "rf_tabular"]
# The command a refusal names, read from its text, and its options.
NAMED = re.compile(r"with `shanyraq welfare ([a-z-]+)([^`]*)`")


def _commands() -> set[str]:
    """The commands `shanyraq welfare` has (welfare/cli.py)."""
    return {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}


@pytest.fixture
def simulated_model(tmp_path, config) -> Path:
    """lgbm_fused as `welfare train` saves it, on the same data."""
    n, seed = config.fusion.n_families, config.fusion.seed
    out = tmp_path / "wf"
    train_models(out, n=n, seed=seed, names=["lgbm_fused"], config=config, keep_meaningless=True)
    return out / "lgbm_fused"


def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "copy" / folder.name))


def _named(text: str, folder: Path) -> str:
    """The command `text` names; for train-engine, the whole command that builds the model in
    `folder` again there (a bare one builds a model of other data, size and vision model)."""
    found = NAMED.findall(text)
    assert len(found) == 1, text
    command, args = found[0]
    assert command in _commands(), (found, _commands())
    if command == "train-engine":
        options = shlex.split(args)
        assert options[options.index("--out") + 1] == str(folder), text
        assert {"--n", "--seed", "--vision", "--overwrite"} <= set(options), text
        assert options[options.index("--size") + 1] == str(SIZE), text
    return command


@pytest.mark.parametrize(("kind", "command"), [("simulated", "train"), ("engine", "train-engine")])
def test_a_basis_refusal_names_the_command_that_builds_that_model(
    request, tmp_path, config, kind, command
):
    folder = _copy(request.getfixturevalue(f"{kind}_model"), tmp_path)
    FusionModel.load(folder, config=config)  # loads under the basis it was trained on
    rewrite(folder, older_code)
    with pytest.raises(ModelMismatchError, match="FEATURES_VERSION") as refused:
        FusionModel.load(folder, config=config)
    assert _named(str(refused.value), folder) == command


def test_an_engine_model_saved_before_its_vision_model_was_named_apart_is_told_alike(
    engine_model, tmp_path, config
):
    """Older engine-trained models name the vision model only in their `photos` sentence."""
    folder = _copy(engine_model, tmp_path)
    rewrite(folder, lambda d: (d["metrics"]["data"].pop("vision_model"), older_code(d)))
    with pytest.raises(ModelMismatchError, match="FEATURES_VERSION") as refused:
        FusionModel.load(folder, config=config)
    assert _named(str(refused.value), folder) == "train-engine"


@pytest.mark.parametrize(("kind", "command"), [("simulated", "train"), ("engine", "train-engine")])
def test_an_incomplete_model_folder_names_the_command_that_builds_that_model(
    request, tmp_path, config, kind, command
):
    folder = _copy(request.getfixturevalue(f"{kind}_model"), tmp_path)
    next(folder.glob("level.*")).unlink()
    with pytest.raises(ModelMismatchError, match="is missing") as refused:
        FusionModel.load(folder, config=config)
    text = str(refused.value)
    assert re.findall(r"train the model again with `shanyraq welfare ([a-z-]+)", text) == [command]
    assert _named(text, folder) == command


# --- a code-only FEATURES_VERSION bump: no model trained beside the older ones ---------------


@pytest.fixture
def pair_then_bump(tmp_path, welfare_config, monkeypatch) -> Path:
    """Folder wf holding lgbm_tabular and rf_tabular trained on 40 hand-made families, seed 0;
    then the feature code's version bumped, its features computed as before."""
    out = tmp_path / "wf"
    train_models(out, n=40, seed=0, names=PAIR, config=welfare_config, keep_meaningless=True)
    monkeypatch.setattr("welfare.features.FEATURES_VERSION", FEATURES_VERSION + 1)
    return out


@pytest.mark.usefixtures("hand_made_synthetic")
def test_training_one_model_beside_models_of_an_older_feature_code_is_refused(
    pair_then_bump, tmp_path, welfare_config, monkeypatch
):
    out = pair_then_bump
    before = snapshot(tmp_path)
    monkeypatch.setattr("welfare.train.synthetic_split", must_not_run("generating families"))
    with pytest.raises(TrainingDataMismatchError) as refused:
        train_models(out, n=40, seed=0, names=["lgbm_tabular"], config=welfare_config,
                     overwrite=True, keep_meaningless=True)  # fmt: skip
    text = refused.value.message
    assert refused.value.code == "training_data_mixed"
    assert f"{out} also holds rf_tabular, trained on features computed otherwise" in text, text
    assert (
        f"rf_tabular: the feature code (welfare/features.py FEATURES_VERSION) was version "
        f"{FEATURES_VERSION}, now {FEATURES_VERSION + 1}" in text
    ), text
    assert (
        f"`shanyraq welfare train --out {out} --n 40 --seed 0 --model lgbm_tabular "
        "--model rf_tabular --overwrite --keep-meaningless`" in text
    ), text
    assert "leave --model out to train all" in text
    assert snapshot(tmp_path) == before  # nothing generated, trained or written


@pytest.mark.usefixtures("hand_made_synthetic")
def test_the_command_the_refusal_names_trains_a_set_evaluate_takes(pair_then_bump, welfare_config):
    out = pair_then_bump
    args = ["train", "--out", str(out), "--model", "lgbm_tabular", "--overwrite"]
    args += ["--n", "40", "--seed", "0", "--keep-meaningless"]
    refused = runner.invoke(app, args)
    assert error_code(refused.exception) == "training_data_mixed", refused.output
    named = re.search(r"`shanyraq welfare (train [^`]*)`", refused.exception.message)
    assert named is not None, refused.exception.message
    result = runner.invoke(app, [*named.group(1).split(), "--keep-meaningless"])
    assert result.exit_code == 0, result.output
    models, source = load_trained_together(out, welfare_config)  # every one on the new basis
    assert set(models) == set(PAIR) and source == (40, 0)
    evaluated, _ = evaluate_saved(out, n_boot=2, config=welfare_config)
    assert set(evaluated["models"]) == set(PAIR)


@pytest.mark.usefixtures("hand_made_synthetic")
def test_models_of_the_same_basis_or_none_recorded_still_take_one_model_more(
    tmp_path, welfare_config
):
    """Beside models of this basis, or saved before a basis was recorded (loaded with a
    warning), one model is trained as before."""
    out = tmp_path / "wf"
    train_models(out, n=40, seed=0, names=PAIR, config=welfare_config, keep_meaningless=True)
    rewrite(out / "rf_tabular", lambda d: d.pop("feature_basis"))
    train_models(out, n=40, seed=0, names=["lgbm_fused"], config=welfare_config,
                 keep_meaningless=True)  # fmt: skip
    assert (out / "lgbm_fused" / "fusion.json").is_file()
