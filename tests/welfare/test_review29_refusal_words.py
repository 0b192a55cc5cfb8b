"""Fusion-model refusals name what is wrong and the command, with its options, that fixes it.

Before: `welfare evaluate-real` told a model `welfare train-engine` built, sitting in its --model
folder, to retrain with `welfare train` (its photo scores are the engine's: that never matches);
models trained on different data were refused with a printed set of (n, seed) tuples and no
advice; a folder loaded under a new poverty line was refused at its first such model, with a bare
command; and `welfare train --model X` under a new line saved X beside a model of the old line,
which `welfare evaluate` then refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import welfare.real_families
import welfare.train
from shanyraq.errors import ModelMismatchError
from tests.refusals import must_not_run
from tests.welfare.engine_study_helpers import PAIR, SEED, SIZE, N
from tests.welfare.fusion_file_helpers import rewrite, snapshot
from tests.welfare.named_command_helpers import NAMED, named, named_args, option
from tests.welfare.welfare_config_helpers import other_poverty_line, with_poverty_line
from welfare.cli import app
from welfare.model_folder import TrainingDataMismatchError
from welfare.real_evaluation import measure_real_scores
from welfare.real_training import ENGINE_MODEL
from welfare.train import load_models, load_trained_together, train_models

# From tests/welfare/conftest.py, the fixtures `engine_model`, `pair`:
# lgbm_fused_engine as `welfare train-engine` builds it on the small recipe's data (48, 5),
# lgbm_fused and lgbm_tabular as `welfare train` builds them on the same data, and what they need.

runner = CliRunner()


def command_args(text: str, command: str) -> list[str]:
    """The arguments of the last `shanyraq welfare COMMAND ...` that `text` names."""
    return [args for c, args in NAMED.findall(text) if c == command][-1].split()


def copied_pair(pair: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pair, tmp_path / "wf"))


def refused(call, *args, **kwargs) -> str:
    with pytest.raises(ModelMismatchError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def measure(folder: Path, vision_dir: Path, config, engine_model: Path | None = None):
    return measure_real_scores(
        folder, vision_dir=vision_dir, n_families=4, size=SIZE, cache_dir=None, n_boot=20,
        config=config, engine_model=engine_model,
    )  # fmt: skip


def trained_as_named(text: str, config) -> None:
    """Run the `welfare train` command `text` names, as welfare/cli.py calls it, with `config`."""
    args = named_args(text, "train")
    train_models(
        Path(option(args, "--out")),
        n=int(option(args, "--n")),
        seed=int(option(args, "--seed")),
        names=[args[i + 1] for i, arg in enumerate(args) if arg == "--model"] or None,
        config=config,
        overwrite="--overwrite" in args,
        keep_meaningless=True,
    )


# --- 1. evaluate-real: a train-engine model in --model is refused for what it is -------------


def test_evaluate_real_refuses_a_train_engine_model_in_its_model_folder_for_what_it_is(
    engine_model, pair, vision_dir, tmp_path, config, monkeypatch
):
    out = copied_pair(pair, tmp_path)
    shutil.copytree(engine_model, out / ENGINE_MODEL)
    generate = welfare.real_families.generate
    monkeypatch.setattr("welfare.real_families.generate", must_not_run("generating families"))
    text = refused(measure, out, vision_dir, config)
    assert text.startswith(
        f"{out}: {ENGINE_MODEL} was built by `shanyraq welfare train-engine` on the vision "
        "engine's photo scores"
    ), text
    assert "training split" not in text and "retrain" not in text, text
    assert "--overwrite" not in text, text  # training again cannot help
    assert named(text) == ["train-engine", "train", "evaluate-real"], text
    args = named_args(text, "evaluate-real")
    assert option(args, "--model") == str(out) and "--engine-model" in args, text
    # As it says: moved into a folder of its own and passed as --engine-model, it is compared.
    monkeypatch.setattr("welfare.real_families.generate", generate)
    own = Path(shutil.move(out / ENGINE_MODEL, tmp_path / "own" / ENGINE_MODEL))
    result = measure(Path(option(args, "--model")), vision_dir, config, engine_model=own)
    assert result["engine_trained"] == ENGINE_MODEL
    assert set(result["fusion_models"]) == {ENGINE_MODEL, *PAIR}


# --- 2. models trained on different data: which on which, and the command --------------------


def test_models_on_different_data_are_named_with_their_data_and_the_command(pair, tmp_path, config):
    out = tmp_path / "wf"
    train_models(out, n=N, seed=6, names=["rf_tabular"], config=config, keep_meaningless=True)
    for name in PAIR:
        shutil.copytree(pair / name, out / name)
    text = refused(load_trained_together, out, config)
    assert text.startswith(f"{out}: its models were trained on different data ("), text
    assert f"lgbm_fused, lgbm_tabular on data ({N} families, seed {SEED})" in text, text
    assert f"rf_tabular on data ({N} families, seed 6)" in text, text
    assert "{(" not in text, text
    assert (
        f"`shanyraq welfare train --out {out} --n {N} --seed {SEED} --model rf_tabular "
        "--overwrite --keep-meaningless`" in text
    ), text
    assert named(text) == ["train"], text
    # The command named trains them together (too few families: allowed here).
    ran = runner.invoke(app, ["train", *named_args(text, "train"), "--keep-meaningless"])
    assert ran.exit_code == 0, ran.output
    models, data = load_trained_together(out, config)
    assert set(models) == {*PAIR, "rf_tabular"} and data == (N, SEED)


def test_a_train_engine_model_on_other_data_is_sent_to_its_own_command(
    engine_model, tmp_path, config
):
    out = tmp_path / "wf"
    train_models(out, n=N, seed=6, names=["rf_tabular"], config=config, keep_meaningless=True)
    shutil.copytree(engine_model, out / ENGINE_MODEL)
    text = refused(load_trained_together, out, config)
    assert f"{ENGINE_MODEL} on data ({N} families, seed {SEED})" in text, text
    assert f"rf_tabular on data ({N} families, seed 6)" in text, text
    assert f"{ENGINE_MODEL} was built by `shanyraq welfare train-engine`" in text, text
    assert "--model rf_tabular" not in text and "a folder of its own" in text, text
    assert f"--model {ENGINE_MODEL}" not in text, text
    # Then lgbm_fused and lgbm_tabular trained beside rf_tabular, which evaluate-real compares it
    # with, and the evaluate-real command that does.
    assert named(text) == ["train-engine", "train", "train-engine", "train", "evaluate-real"], text
    args = command_args(text, "train-engine")
    assert (option(args, "--n"), option(args, "--seed")) == (str(N), "6"), text


# --- 3. a folder under another poverty line: every model, one full command --------------------


def test_a_folder_under_another_line_names_every_model_and_the_full_command(pair, tmp_path, config):
    out = copied_pair(pair, tmp_path)
    moved = other_poverty_line(config)
    text = refused(load_models, out, moved)
    assert text.startswith(
        f"{out}: lgbm_fused, lgbm_tabular cannot give P(ASP eligible) under today's poverty line"
    ), text
    assert "poverty line 32,360 KZT" in text and "48,540 KZT now" in text, text
    assert (
        f"`shanyraq welfare train --out {out} --n {N} --seed {SEED} --model lgbm_fused "
        "--model lgbm_tabular --overwrite --keep-meaningless`" in text
    ), text
    assert named(text) == ["train"], text
    trained_as_named(text, moved)  # the command named, under the new line
    models, data = load_trained_together(out, moved)
    assert set(models) == set(PAIR) and data == (N, SEED)


def test_only_the_models_of_another_line_are_named(pair, tmp_path, config):
    out = copied_pair(pair, tmp_path)
    rewrite(out / "lgbm_tabular", lambda d: d["label_basis"].update(poverty_line_kzt=30000))
    text = refused(load_models, out, config)
    assert text.startswith(f"{out}: lgbm_tabular cannot give"), text
    assert "lgbm_fused" not in text, text
    assert (
        f"`shanyraq welfare train --out {out} --n {N} --seed {SEED} --model lgbm_tabular "
        "--overwrite --keep-meaningless`" in text
    ), text


def test_a_train_engine_model_of_another_line_is_sent_to_train_engine(
    engine_model, pair, tmp_path, config
):
    out = copied_pair(pair, tmp_path)
    shutil.copytree(engine_model, out / ENGINE_MODEL)
    text = refused(load_models, out, other_poverty_line(config))
    assert text.startswith(f"{out}: lgbm_fused, {ENGINE_MODEL}, lgbm_tabular cannot give"), text
    assert "--model lgbm_fused --model lgbm_tabular --overwrite --keep-meaningless`" in text, text
    assert f"--model {ENGINE_MODEL}" not in text, text
    assert f"{ENGINE_MODEL} was built by `shanyraq welfare train-engine`" in text, text
    # The engine model moved out first (`welfare train` refuses to train beside it), the others
    # trained again, then the evaluate-real command that compares it with them.
    assert named(text) == ["train-engine", "train-engine", "train", "evaluate-real"], text
    args = command_args(text, "train-engine")
    assert (option(args, "--n"), option(args, "--seed")) == (str(N), str(SEED)), text


# --- 4. `welfare train` beside a model of another line: refused before generating ------------


@pytest.fixture
def old_line_model(tmp_path, welfare_config) -> Path:
    """Folder wf holding lgbm_fused trained on 40 hand-made families, seed 0, under the
    shipped line."""
    out = tmp_path / "wf"
    train_models(
        out, n=40, seed=0, names=["lgbm_fused"], config=welfare_config, keep_meaningless=True
    )
    return out


# 1 KZT more: no hand-made family's ASP label changes, so the training-data hash cannot tell.
def _moved(config):
    return with_poverty_line(config, config.thresholds.poverty_line_kzt + 1)


@pytest.mark.usefixtures("hand_made_synthetic")
def test_training_beside_a_model_of_another_line_is_refused_before_generating(
    old_line_model, tmp_path, welfare_config, monkeypatch
):
    out, moved = old_line_model, _moved(welfare_config)
    before = snapshot(tmp_path)
    split = welfare.train.synthetic_split
    monkeypatch.setattr("welfare.train.synthetic_split", must_not_run("generating families"))
    with pytest.raises(TrainingDataMismatchError) as caught:
        train_models(out, n=40, seed=0, names=["rf_fused"], config=moved, keep_meaningless=True)
    text = caught.value.message
    assert (
        f"{out} also holds lgbm_fused, trained on ASP labels drawn under another poverty line "
        "than rf_fused would be now" in text
    ), text
    assert "lgbm_fused: its ASP labels were drawn under the poverty line 32,360 KZT" in text, text
    assert "32,361 KZT now" in text, text
    assert (
        f"`shanyraq welfare train --out {out} --n 40 --seed 0 --model rf_fused --model "
        "lgbm_fused --overwrite --keep-meaningless`" in text
    ), text
    assert snapshot(tmp_path) == before  # nothing generated, trained or written
    # The command named trains a set `welfare evaluate` takes under the new line.
    monkeypatch.setattr("welfare.train.synthetic_split", split)
    trained_as_named(text, moved)
    models, data = load_trained_together(out, moved)
    assert set(models) == {"lgbm_fused", "rf_fused"} and data == (40, 0)


@pytest.mark.usefixtures("hand_made_synthetic")
def test_beside_a_model_that_records_no_line_one_model_is_still_trained(
    old_line_model, welfare_config
):
    """Saved before the line was recorded, it loads with a warning: nothing to refuse here."""
    out = old_line_model
    rewrite(out / "lgbm_fused", lambda d: d.pop("label_basis"))
    train_models(out, n=40, seed=0, names=["rf_fused"], config=_moved(welfare_config),
                 keep_meaningless=True)  # fmt: skip
    assert (out / "rf_fused" / "fusion.json").is_file()
