"""A fusion model's folder records which command built it beside its level head's boosters
(level.json), so a refusal for a folder whose fusion.json cannot be read names that command.

Before, a `welfare train` model whose folder was renamed and an engine model (`welfare
train-engine`, the same learner and head files) could not be told apart once fusion.json was
unreadable: the renamed lgbm_fused was told to be trained again with `welfare train-engine` at
the engine defaults, and an engine model in a folder named as a registered model was told to be
trained again with `welfare train`. A folder saved before the record keeps those words.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from shanyraq.atomic import not_replaceable
from shanyraq.manifest import sha256_file
from tests.welfare.damaged_meta_helpers import TAKEN_FOR_ENGINE, WITHOUT, refusal, run, unmarked
from tests.welfare.engine_study_helpers import SEED, N
from tests.welfare.named_command_helpers import named_args, named_with_options, option
from welfare.fusion import FusionModel
from welfare.model_folder import META_FILE, MODEL_FILES
from welfare.train import load_trained_together, synthetic_split, train_models

# Each test runs from its own tmp_path: a command's default --cache and --out land there.
pytestmark = pytest.mark.usefixtures("in_tmp")

# From tests/welfare/conftest.py, the fixtures `pair`, `engine_model`:
# lgbm_fused and lgbm_tabular as `welfare train` saves them on the small recipe's data (48, 5),
# and lgbm_fused_engine as `welfare train-engine` does, both kept with --keep-meaningless.


# --- a model of `welfare train`, its folder renamed -----------------------------------------


@pytest.mark.parametrize("damage", list(WITHOUT))
def test_a_renamed_train_model_is_told_the_train_command_that_builds_it(
    pair, tmp_path, config, cli_config, damage
):
    out = Path(shutil.copytree(pair, tmp_path / "wf"))
    folder = out / "kept_fused"
    (out / "lgbm_fused").rename(folder)
    WITHOUT[damage](folder)
    text = refusal(folder, config)
    assert named_with_options(text) == ["train"], text
    assert TAKEN_FOR_ENGINE not in text, text
    args = named_args(text, "train")
    assert option(args, "--out") == str(out) and option(args, "--model") == "lgbm_fused", text
    # The data of the model beside it, which `welfare train` trains with.
    assert (option(args, "--n"), option(args, "--seed")) == (str(N), str(SEED)), text
    assert f"once {folder} is moved out of {out} (it refuses to train beside" in text, text
    assert f"then move {out / 'lgbm_fused'} to {folder}" in text, text
    # Run as written, with the damaged folder moved out first, then moved as said, it is the
    # model again, beside lgbm_tabular.
    cli_config(config)
    shutil.move(folder, tmp_path / "damaged")
    run("train", args)
    shutil.move(out / "lgbm_fused", folder)
    FusionModel.load(folder, config=config)
    models, data = load_trained_together(out, config)
    assert set(models) == {"kept_fused", "lgbm_tabular"} and data == (N, SEED)


def test_a_renamed_train_model_whose_name_is_taken_is_told_to_move_both_out(pair, tmp_path, config):
    out = Path(shutil.copytree(pair, tmp_path / "wf"))
    folder = Path(shutil.copytree(out / "lgbm_fused", out / "kept_fused"))
    WITHOUT["not JSON"](folder)
    text = refusal(folder, config)
    assert named_with_options(text) == ["train"], text
    assert "--overwrite" not in named_args(text, "train"), text
    target = out / "lgbm_fused"
    assert f"once {folder} and {target} are moved out of {out}" in text, text
    assert f"and saves the model to {target}), then move {target} to {folder}" in text, text


def test_a_train_model_in_its_own_folder_is_not_told_train_engine(pair, tmp_path, config):
    out = Path(shutil.copytree(pair, tmp_path / "wf"))
    folder = out / "lgbm_tabular"
    WITHOUT["not JSON"](folder)
    text = refusal(folder, config)
    assert named_with_options(text) == ["train"], text
    assert "train-engine" not in text, text
    args = named_args(text, "train")
    assert option(args, "--model") == "lgbm_tabular" and "--overwrite" in args, text


# --- a model of `welfare train-engine` --------------------------------------------------------


@pytest.mark.parametrize("name", ["lgbm_fused", "kept_engine"])
def test_an_engine_model_is_told_train_engine_whatever_its_folder_is_named(
    engine_model, tmp_path, config, name
):
    """Named as a model `welfare train` saves, or otherwise: its level.json says who built it."""
    folder = Path(shutil.copytree(engine_model, tmp_path / "models" / name))
    WITHOUT["not JSON"](folder)
    text = refusal(folder, config)
    assert named_with_options(text) == ["train-engine"], text
    assert named_args(text, "train-engine") == ["--out", str(folder), "--overwrite"], text
    assert "giving --vision, --size, --n, --seed, --families and --subset-seed as it was" in text
    assert "records that `welfare train-engine` built it" in text, text
    assert "since renamed" not in text, text


# --- a folder saved before the builder was recorded: today's words ----------------------------


def test_an_unmarked_renamed_train_model_keeps_the_words_it_had(pair, tmp_path, config):
    out = Path(shutil.copytree(pair, tmp_path / "wf"))
    folder = out / "kept_fused"
    (out / "lgbm_fused").rename(folder)
    unmarked(folder)
    WITHOUT["not JSON"](folder)
    text = refusal(folder, config)
    assert named_with_options(text) == ["train-engine"], text
    assert TAKEN_FOR_ENGINE in text, text
    assert "had `welfare train` built it in a folder since renamed, run that command again" in text


def test_an_unmarked_engine_model_named_as_a_train_model_keeps_the_words_it_had(
    engine_model, tmp_path, config
):
    folder = Path(shutil.copytree(engine_model, tmp_path / "models" / "lgbm_fused"))
    unmarked(folder)
    WITHOUT["not JSON"](folder)
    text = refusal(folder, config)
    assert named_with_options(text) == ["train", "train-engine"], text
    assert "(or, had `welfare train-engine` built it, `shanyraq welfare train-engine" in text


# --- saving and loading ----------------------------------------------------------------------


def test_the_record_changes_neither_the_files_nor_the_probabilities(engine_model, tmp_path, config):
    """The folder holds the files it held (older code replaces it alike), level.json records the
    command and the model, and the model loaded scores as the one trained, with or without it."""
    out = tmp_path / "wf"
    models = train_models(
        out, n=N, seed=SEED, names=["lgbm_fused"], config=config, keep_meaningless=True
    )
    folder = out / "lgbm_fused"
    for saved, said in [(folder, "welfare train"), (engine_model, "welfare train-engine")]:
        assert {p.name for p in saved.iterdir()} == {META_FILE, "level.json", "asp.txt"}
        assert not_replaceable(saved, marker=META_FILE, allowed=MODEL_FILES) is None
        level = json.loads((saved / "level.json").read_text(encoding="utf-8"))
        assert (level["built_by"], level["model"]) == (said, saved.name)
    families = synthetic_split(N, seed=SEED, config=config, progress=False).test.features
    trained = models["lgbm_fused"].predict(families)
    loaded = FusionModel.load(folder, config=config)
    assert loaded.meta.version == models["lgbm_fused"].meta.version
    for read in (loaded, _loaded_unmarked(folder, tmp_path, config)):
        scored = read.predict(families)
        np.testing.assert_array_equal(scored.level_probs, trained.level_probs)
        np.testing.assert_array_equal(scored.asp_probability, trained.asp_probability)


def _loaded_unmarked(folder: Path, tmp_path: Path, config) -> FusionModel:
    """The model in `folder` as a copy without the record loads it (its head file's digest in
    fusion.json made that of the file as it is then)."""
    copy = Path(shutil.copytree(folder, tmp_path / "unmarked" / folder.name))
    unmarked(copy)
    meta = json.loads((copy / META_FILE).read_text(encoding="utf-8"))
    meta["head_sha256"]["level.json"] = sha256_file(copy / "level.json")
    (copy / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    return FusionModel.load(copy, config=config)
