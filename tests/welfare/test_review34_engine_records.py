"""An engine model's recorded data are read as the commands read them, and an older renamed
folder of `welfare train` is told by its metrics.

Before, evaluate-real's readers of an engine model (`load_engine_trained`,
`check_trained_families`) took the data (n, seed), the test fraction and the subset of training
families it records as they were recorded: n recorded as 48.0 or seed as true passed for the
other models' data, "48" was refused as other data than (48, 5), and a subset recorded as "6",
6.5, -3 or seed "3" failed with a TypeError or ValueError, was refused as asked for by the
reader, or was drawn as another subset and refused as configs changed since. And a renamed
folder saved before level.json recorded its builder, whose fusion.json still records metrics of
`welfare train` (photos from welfare.simulate), was told a train-engine command first.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from shanyraq.errors import ModelMismatchError
from tests.welfare.damaged_meta_helpers import (
    TAKEN_FOR_ENGINE,
    WITH_METRICS,
    edited,
    loaded,
    refusal,
    unmarked,
)
from tests.welfare.engine_study_helpers import SEED, N
from tests.welfare.named_command_helpers import named_args, named_with_options, option
from welfare.real_families import generate
from welfare.real_training import check_trained_families, load_engine_trained

# Each test runs from its own tmp_path: a command's default --cache and --out land there.
pytestmark = pytest.mark.usefixtures("in_tmp")

DAMAGED = "a damaged record"


def refused(call: Callable[[], object]) -> str:
    with pytest.raises(ModelMismatchError) as caught:
        call()
    return str(caught.value)


# --- the data (n, seed) and test fraction ----------------------------------------------------


@pytest.mark.parametrize(
    "data", [{"n": "48"}, {"n": 48.0}, {"seed": 5.0}, {"seed": "5"}, {"n": True}, {"n": None}]
)
def test_data_recorded_otherwise_than_as_whole_numbers_are_refused_as_damaged(
    engine_model, tmp_path, config, data
):
    folder = edited(engine_model, tmp_path, **data)
    text = refused(lambda: loaded(folder, config))
    assert DAMAGED in text and "records the data it was trained on as n" in text, text
    assert f"the other models on {N}, {SEED}" not in text, text
    args = named_args(text, "train-engine")
    assert (option(args, "--n"), option(args, "--seed")) == (str(N), str(SEED)), text
    assert option(args, "--out") == str(folder), text


@pytest.mark.parametrize("fraction", ["0.25", True, 1.5, 0])
def test_a_test_fraction_recorded_otherwise_than_as_a_share_is_refused_as_damaged(
    engine_model, tmp_path, config, fraction
):
    folder = edited(engine_model, tmp_path, test_fraction=fraction)
    text = refused(lambda: loaded(folder, config))
    assert DAMAGED in text and "test_fraction" in text, text
    assert option(named_args(text, "train-engine"), "--out") == str(folder), text


def test_whole_numbers_as_recorded_are_still_taken(engine_model, tmp_path, config):
    folder = edited(engine_model, tmp_path)
    assert loaded(folder, config).meta.metrics["data"]["n"] == N


# --- the subset of training families ---------------------------------------------------------


SUBSETS = [
    {"train_families": "6"},
    {"train_families": 6.5},
    {"train_families": True},
    {"train_families": -3},
    {"train_families": 0},
    {"train_families": None},
    {"subset_seed": "3"},
    {"subset_seed": 1.5},
    {"subset_seed": True},
    {"subset_seed": -1},
]


@pytest.mark.parametrize("data", SUBSETS)
def test_a_subset_recorded_otherwise_is_refused_as_damaged_on_load(
    engine_model, tmp_path, config, data
):
    """Refused before any family is generated, naming the command that trains it again."""
    folder = edited(engine_model, tmp_path, **data)
    text = refused(lambda: loaded(folder, config))
    assert DAMAGED in text and "subset of training families" in text, text
    assert option(named_args(text, "train-engine"), "--out") == str(folder), text


@pytest.fixture(scope="module")
def generated(config):
    return generate(N, seed=SEED, config=config)


@pytest.mark.parametrize("data", SUBSETS)
def test_a_subset_recorded_otherwise_is_refused_as_damaged_by_the_families_check(
    engine_model, tmp_path, config, generated, data
):
    """Not a TypeError, a count the reader is said to have asked for, nor configs changed."""
    folder = edited(engine_model, tmp_path, **data)
    model = load_engine_trained(edited(engine_model, tmp_path / "intact"), n=N, seed=SEED)
    model.meta.metrics["data"] = json.loads((folder / "fusion.json").read_text())["metrics"]["data"]
    text = refused(
        lambda: check_trained_families(model, folder=folder, generated=generated, config=config)
    )
    assert DAMAGED in text and "changed since" not in text, text
    assert option(named_args(text, "train-engine"), "--out") == str(folder), text


def test_the_subset_recorded_as_whole_numbers_is_checked(engine_model, tmp_path, config, generated):
    model = loaded(edited(engine_model, tmp_path), config)
    assert check_trained_families(model, folder=tmp_path, generated=generated, config=config)


# --- a renamed folder that records no builder: told by its metrics ----------------------------


@pytest.mark.parametrize("damage", list(WITH_METRICS))
def test_an_unmarked_renamed_train_model_whose_metrics_say_so_is_told_train(
    pair, tmp_path, config, damage
):
    out = Path(shutil.copytree(pair, tmp_path / "wf"))
    folder = out / "kept_fused"
    (out / "lgbm_fused").rename(folder)
    unmarked(folder)
    WITH_METRICS[damage](folder)
    text = refusal(folder, config)
    assert named_with_options(text) == ["train"], text
    assert TAKEN_FOR_ENGINE not in text and "train-engine" not in text, text
    args = named_args(text, "train")
    assert option(args, "--out") == str(out) and option(args, "--model") == "lgbm_fused", text
    assert (option(args, "--n"), option(args, "--seed")) == (str(N), str(SEED)), text
    assert f"then move {out / 'lgbm_fused'} to {folder}" in text, text


def test_an_unmarked_renamed_train_model_with_no_name_left_is_told_to_give_it(
    pair, tmp_path, config
):
    out = Path(shutil.copytree(pair, tmp_path / "wf"))
    folder = out / "kept_fused"
    (out / "lgbm_fused").rename(folder)
    unmarked(folder)
    path = folder / "fusion.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({"metrics": meta["metrics"]}), encoding="utf-8")
    text = refusal(folder, config)
    assert named_with_options(text) == ["train"] and TAKEN_FOR_ENGINE not in text, text
    args = named_args(text, "train")
    assert "--model" not in args and option(args, "--out") == str(out), text
    assert "with --model the name" in text, text


@pytest.mark.parametrize("damage", list(WITH_METRICS))
def test_an_unmarked_renamed_engine_model_is_still_told_train_engine(
    engine_model, tmp_path, config, damage
):
    folder = Path(shutil.copytree(engine_model, tmp_path / "models" / "kept_engine"))
    unmarked(folder)
    WITH_METRICS[damage](folder)
    text = refusal(folder, config)
    assert named_with_options(text) == ["train-engine"], text
    assert option(named_args(text, "train-engine"), "--out") == str(folder), text


def test_an_unmarked_renamed_folder_with_no_metrics_keeps_the_words_it_had(pair, tmp_path, config):
    out = Path(shutil.copytree(pair, tmp_path / "wf"))
    folder = out / "kept_fused"
    (out / "lgbm_fused").rename(folder)
    unmarked(folder)
    WITH_METRICS["unknown key"](folder)
    path = folder / "fusion.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**meta, "metrics": {}}), encoding="utf-8")
    text = refusal(folder, config)
    assert named_with_options(text) == ["train-engine"] and TAKEN_FOR_ENGINE in text, text
