"""The train-engine command a refusal names for a model built in memory (not read from a folder)
gives every option the model records, and runs as written; one for a model that does not record
the data (n, seed) it was trained on says so, instead of leaving them out without a word.

Before, a model `welfare train-engine` built, refused while in memory, was told a bare
`shanyraq welfare train-engine`: run as named, it built a model at the defaults (every
training family, at 128 px, scored by the default vision model), another model than the one
refused, though the model records each option it was trained with.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from shanyraq.errors import ModelMismatchError
from tests.welfare.engine_command_helpers import (
    accepted,
    run_train_engine,
)
from tests.welfare.engine_study_helpers import SEED, SIZE, N
from tests.welfare.fusion_file_helpers import rewrite
from tests.welfare.named_command_helpers import option, the_command
from welfare.fusion import FusionModel
from welfare.real_training import ENGINE_MODEL
from welfare.train import load_trained_together

# Each test runs from its own tmp_path: a command's default --cache and --out land there.
pytestmark = pytest.mark.usefixtures("in_tmp")

# From tests/welfare/conftest.py:
# engine_model: lgbm_fused_engine as `welfare train-engine` builds it on the small recipe's data
# (48, 5): 6 of its 36 training families (subset seed 3), photos rendered at 64 px, kept with
# --keep-meaningless.

BARE = "`shanyraq welfare train-engine`"
# train-engine's default --out (welfare/cli.py), from the working folder (a tmp_path here).
DEFAULT_OUT = Path("artifacts/welfare/engine/lgbm_fused_engine")


def _refused(model: FusionModel) -> str:
    """The refusal of a family lacking the model's features: it names the command."""
    with pytest.raises(ModelMismatchError, match="needs features") as caught:
        model.predict(pd.DataFrame({"other": [1.0]}))
    return str(caught.value)


def test_an_engine_model_in_memory_is_told_every_option_it_records_and_it_runs(
    engine_model, tmp_path, config, cli_config, vision_dir
):
    saved = FusionModel.load(engine_model, config=config)
    in_memory = FusionModel(saved.meta, saved.level_head, saved.asp_head)
    assert in_memory.folder is None
    text = _refused(in_memory)
    assert BARE not in text, text
    args = the_command(text)
    assert option(args, "--vision") == str(vision_dir.resolve()), args
    assert (option(args, "--n"), option(args, "--seed")) == (str(N), str(SEED)), args
    assert (option(args, "--size"), option(args, "--families")) == (str(SIZE), "6"), args
    assert option(args, "--subset-seed") == "3" and "--keep-meaningless" in args, args
    # Where to keep it is not the model's to know: the refusal says so, and what to add.
    assert "--out" not in args and "--overwrite" not in args, args
    assert "not read from a folder" in text and "with --out the folder to keep it in" in text, text
    cli_config(config)
    run_train_engine(args)  # as written: into train-engine's default --out
    built = tmp_path / DEFAULT_OUT
    accepted(built, config, n=N, seed=SEED)
    assert FusionModel.load(built, config=config).meta.version == saved.meta.version


def test_a_model_that_does_not_record_its_data_is_told_the_command_lacks_them(
    engine_model, tmp_path, config
):
    folder = Path(shutil.copytree(engine_model, tmp_path / "models" / ENGINE_MODEL))
    rewrite(folder, lambda d: [d["metrics"]["data"].pop(key) for key in ("n", "seed")])
    with pytest.raises(ModelMismatchError, match="does not say which synthetic") as caught:
        load_trained_together(folder.parent, config)
    text = str(caught.value)
    args = the_command(text)
    assert "--n" not in args and "--seed" not in args, args
    assert option(args, "--out") == str(folder) and "--overwrite" in args, args
    assert "with --n and --seed of the data it was trained on" in text, text
    assert "which the model does not record" in text, text


def test_a_model_that_records_its_data_is_told_no_such_thing(engine_model, tmp_path, config):
    folder = Path(shutil.copytree(engine_model, tmp_path / "models" / ENGINE_MODEL))
    rewrite(folder, lambda d: d.update(levels=[1, 2, 3]))
    with pytest.raises(ModelMismatchError, match="welfare levels") as caught:
        FusionModel.load(folder, config=config)
    text = str(caught.value)
    assert (option(the_command(text), "--n"), option(the_command(text), "--seed")) == (
        str(N),
        str(SEED),
    )
    assert "does not record" not in text and "not read from a folder" not in text, text
