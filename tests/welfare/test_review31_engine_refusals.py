"""Every refusal of a model `welfare train-engine` built names the whole command that builds it
again where it is, and that command, run as written, gives a model the check that named it takes.

Before, only the poverty-line and scoring-settings refusals did (welfare.retrain_words
`build_again`): a model refused for its feature basis, its taxonomy, its welfare levels, a head
file (missing, or of another model), its coverage rooms, the features a family lacks or the data
it does not record was told a bare `shanyraq welfare train-engine`, which run as named builds a
model at the defaults (another --out, --vision, --size, every training family) that is refused
again.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from shanyraq.errors import ModelMismatchError
from shanyraq.taxonomy import get_taxonomy
from tests.welfare.engine_command_helpers import (
    accepted,
    run_train_engine,
)
from tests.welfare.engine_study_helpers import SEED, SIZE, N
from tests.welfare.fusion_file_helpers import older_code, rewrite
from tests.welfare.named_command_helpers import option, the_command
from welfare.assess import coverage_rooms
from welfare.fusion import FusionModel
from welfare.real_training import ENGINE_MODEL
from welfare.train import load_trained_together

# Each test runs from its own tmp_path: a command's default --cache and --out land there.
pytestmark = pytest.mark.usefixtures("in_tmp")

# From tests/welfare/conftest.py, the fixture `engine_model`:
# lgbm_fused_engine as `welfare train-engine` builds it on the small recipe's data (48, 5): 6 of
# its 36 training families (subset seed 3), photos rendered at 64 px, kept with
# --keep-meaningless.

BARE = "`shanyraq welfare train-engine`"


def _copy(engine_model: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(engine_model, tmp_path / "models" / ENGINE_MODEL))


def _as_recorded(args: list[str], folder: Path, vision_dir: Path) -> None:
    """`args` train the model again in `folder` with every option it records."""
    assert option(args, "--out") == str(folder) and "--overwrite" in args, args
    assert option(args, "--vision") == str(vision_dir.resolve()), args
    assert (option(args, "--n"), option(args, "--seed")) == (str(N), str(SEED)), args
    assert (option(args, "--size"), option(args, "--families")) == (str(SIZE), "6"), args
    assert "--keep-meaningless" in args, args


def _unlink_level_head(folder: Path) -> None:
    next(folder.glob("level.*")).unlink()


def _other_digests(data: dict[str, Any]) -> None:
    data["head_sha256"] = {name: "0" * 64 for name in data["head_sha256"]}


# How a saved engine model is broken, and what the refusal of FusionModel.load says of it.
BROKEN: dict[str, tuple[Callable[[Path], object], str]] = {
    "feature basis": (lambda f: rewrite(f, older_code), "FEATURES_VERSION"),
    "taxonomy": (lambda f: rewrite(f, lambda d: d.update(taxonomy_sha256="0" * 64)), "taxonomy"),
    "levels": (lambda f: rewrite(f, lambda d: d.update(levels=[1, 2, 3])), "welfare levels"),
    "head file of another model": (lambda f: rewrite(f, _other_digests), "not the file"),
    "missing head file": (_unlink_level_head, "is missing"),
}


@pytest.mark.parametrize("broken", list(BROKEN))
def test_a_load_refusal_names_a_train_engine_command_that_runs_as_written(
    engine_model, tmp_path, config, cli_config, vision_dir, broken
):
    folder = _copy(engine_model, tmp_path)
    FusionModel.load(folder, config=config)  # loads as it was saved
    breaking, said = BROKEN[broken]
    breaking(folder)
    with pytest.raises(ModelMismatchError, match=said) as caught:
        FusionModel.load(folder, config=config)
    text = str(caught.value)
    assert BARE not in text, text
    args = the_command(text)
    _as_recorded(args, folder, vision_dir)
    cli_config(config)
    run_train_engine(args)
    FusionModel.load(folder, config=config)  # the check that named it takes it
    accepted(folder, config, n=N, seed=SEED)


def test_a_model_saved_before_its_feature_basis_was_recorded_is_told_the_whole_command(
    engine_model, tmp_path, config, vision_dir, caplog
):
    folder = _copy(engine_model, tmp_path)
    rewrite(folder, lambda d: d.pop("feature_basis"))
    caplog.set_level(logging.WARNING, logger="welfare.fusion_version")
    FusionModel.load(folder, config=config)
    (text,) = [r.getMessage() for r in caplog.records if "computed under" in r.getMessage()]
    _as_recorded(the_command(text), folder, vision_dir)


def test_coverage_over_rooms_that_are_not_dwelling_rooms_names_a_command_that_runs(
    engine_model, tmp_path, config, cli_config, vision_dir
):
    folder = _copy(engine_model, tmp_path)
    rewrite(folder, lambda d: d["recipe"].update(expected_rooms=["kitchen", "garage"]))
    model = FusionModel.load(folder, config=config)
    with pytest.raises(ModelMismatchError, match="not dwelling rooms") as caught:
        coverage_rooms(model, config=config, taxonomy=get_taxonomy())
    args = the_command(str(caught.value))
    _as_recorded(args, folder, vision_dir)
    cli_config(config)
    run_train_engine(args)
    model = FusionModel.load(folder, config=config)
    assert coverage_rooms(model, config=config, taxonomy=get_taxonomy()) == list(
        config.fusion.expected_rooms
    )


def test_a_model_that_does_not_record_its_data_names_a_command_that_runs(
    engine_model, tmp_path, config, cli_config, vision_dir
):
    folder = _copy(engine_model, tmp_path)
    rewrite(folder, lambda d: d["metrics"]["data"].pop("n"))
    with pytest.raises(ModelMismatchError, match="does not say which synthetic") as caught:
        load_trained_together(folder.parent, config)
    args = the_command(str(caught.value))
    assert option(args, "--out") == str(folder) and "--n" not in args, args
    assert (option(args, "--size"), option(args, "--families")) == (str(SIZE), "6"), args
    cli_config(config)  # --n left out: the configuration's, the data it was trained on
    run_train_engine(args)
    models, source = load_trained_together(folder.parent, config)
    assert set(models) == {ENGINE_MODEL} and source == (N, SEED)


def test_features_a_family_lacks_name_the_command_for_the_folder_the_model_came_from(
    engine_model, config, vision_dir
):
    model = FusionModel.load(engine_model, config=config)
    lacking = pd.DataFrame({"other": [1.0]})
    with pytest.raises(ModelMismatchError, match="needs features") as caught:
        model.predict(lacking)
    _as_recorded(the_command(str(caught.value)), engine_model, vision_dir)
    # Built in memory, not read from a folder: the command of its recorded data, no --out.
    in_memory = FusionModel(model.meta, model.level_head, model.asp_head)
    with pytest.raises(ModelMismatchError, match="needs features") as caught:
        in_memory.predict(lacking)
    text = str(caught.value)
    assert BARE not in text and "not read from a folder" in text, text
    assert "--out" not in the_command(text), text
