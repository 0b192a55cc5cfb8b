"""Every option a train-engine or evaluate-real command names from what a model records is one
the command takes as written, and what a model does not record so is said after the command.

Before, `welfare train-engine`'s command copied the subset of training families a model records
as it was recorded (`--families True`, `--families 6.5`, `--families -3`, `--subset-seed 1.5`),
and its render size through int() (`--size 1` for true, `--size 64` for 64.5, `--size 16` below
the option's range; a size recorded as "abc" failed the refusal itself); one recording no render
size was told a command rendering at the default without a word. A vision model's folder with a
space in it was named unquoted, so the shell split it. And an evaluate-real command for a model
whose data's test split is not recorded left --families out without a word, though its default
(400) is refused on a smaller split.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.welfare.recorded_metrics_helpers import (
    Recorded,
    command_args,
    engine_metrics,
    parsed,
    told,
)
from welfare import engine_record
from welfare.engine_record import VISION_DIR, scored_as, trained_render_size, trained_vision_model
from welfare.model_data import option_value, unrecorded
from welfare.retrain_words import STUDY_FAMILIES, evaluate_real_again, train_engine_again

# Recorded values no --families (a whole number, at least 1) takes.
NOT_FAMILIES = [True, "6", 6.5, 6.0, -3, 0, None]
# Recorded values no --subset-seed (a whole number) takes.
NOT_SEED = ["1", 1.5, True]
# Recorded values no --size (a whole number from 32 to 2048) takes.
NOT_SIZE = [True, "64", 64.5, 16, 4096, 0, "abc"]
SUBSET = {"train_families": 6, "subset_seed": 3}


# --- the subset of training families ---------------------------------------------------------


@pytest.mark.parametrize("families", NOT_FAMILIES[:-1])
def test_a_subset_size_recorded_otherwise_is_left_out_and_said(families):
    text, options = told(train_families=families, subset_seed=3)
    assert "--families" not in command_args(text), text
    assert options["subset_seed"] == 3, text
    assert "with --families of the subset of training families it was trained on" in text, text
    assert "which the model does not record" in text, text


@pytest.mark.parametrize("subset_seed", NOT_SEED)
def test_a_subset_seed_recorded_otherwise_is_left_out_and_said(subset_seed):
    text, options = told(train_families=6, subset_seed=subset_seed)
    assert "--subset-seed" not in command_args(text), text
    assert options["families"] == 6, text
    assert "with --subset-seed of the subset of training families it was trained on" in text


def test_a_subset_recorded_as_whole_numbers_is_told_as_it_is():
    text, options = told(**SUBSET)
    assert (options["families"], options["subset_seed"]) == (6, 3), text
    assert "does not record" not in text, text


def test_a_model_trained_on_every_training_family_is_told_no_subset():
    # train-engine records no subset seed where it drew none: the whole split.
    text, options = told(train_families=36, subset_seed=None)
    assert (options["families"], options["subset_seed"]) == (None, 0), text
    assert "--subset-seed" not in text and "does not record" not in text, text


# --- the render size -------------------------------------------------------------------------


@pytest.mark.parametrize("size", NOT_SIZE)
def test_a_render_size_recorded_otherwise_is_left_out_and_said(size):
    text, _ = told(size=size, **SUBSET)
    assert "--size" not in command_args(text), text
    assert "with --size of the photos it was trained on, which the model does not record" in text


def test_a_render_size_not_recorded_at_all_is_said():
    metrics = engine_metrics(**SUBSET)
    del metrics["data"]["size"]
    text = train_engine_again(Path("own"), Recorded(metrics))
    assert "--size" not in command_args(text), text
    assert "with --size of the photos it was trained on" in text, text


def test_a_render_size_in_range_is_told_and_one_given_wins():
    assert told(size=64, **SUBSET)[1]["size"] == 64
    text = train_engine_again(Path("own"), Recorded(engine_metrics(size=True)), size=96)
    assert parsed(command_args(text))["size"] == 96 and "--size of the photos" not in text, text


def test_a_render_size_is_read_only_as_a_whole_number():
    for size in [True, "64", 64.5]:
        assert trained_render_size({"size": size}) is None, size
    assert trained_render_size({"size": 64}) == 64


# --- the vision model and its folder ---------------------------------------------------------


def test_a_vision_folder_with_a_space_is_one_word_of_the_command(tmp_path):
    folder = tmp_path / "vision models" / "artifact"
    text = train_engine_again(Path("own"), Recorded(engine_metrics(**SUBSET)), vision_dir=folder)
    assert parsed(command_args(text))["vision"] == folder.resolve(), text


def test_a_recorded_vision_folder_with_a_space_is_one_word_of_the_command(tmp_path, monkeypatch):
    folder = tmp_path / "vision models" / "artifact"
    held = SimpleNamespace(model_version="vision-abc")
    monkeypatch.setattr(engine_record, "read_artifact", lambda path: held)
    data = engine_metrics(**SUBSET, **{VISION_DIR: str(folder)})["data"]
    options, note = scored_as(data, size=None, vision_model=None)
    assert parsed(shlex.split(options))["vision"] == folder.resolve(), options
    assert note == "", note


@pytest.mark.parametrize("name", [5, True, ["vision-abc"]])
def test_a_vision_model_recorded_otherwise_is_not_named(name):
    assert trained_vision_model({"vision_model": name}) is None
    text = train_engine_again(Path("own"), Recorded(engine_metrics(vision_model=name, **SUBSET)))
    assert f"vision model {name}" not in text, text
    assert "with --vision the folder of vision model it learned from" in text, text


# --- evaluate-real's test families -----------------------------------------------------------


def engine_meta(recipe: dict[str, Any] | None = None, **data: object) -> SimpleNamespace:
    return SimpleNamespace(metrics=engine_metrics(**data), recipe=recipe)


@pytest.mark.parametrize("fraction", ["0.25", True, 1.5, 0, None])
def test_a_test_split_not_recorded_is_said_after_evaluate_real(fraction):
    meta = engine_meta(test_fraction=fraction, **SUBSET)
    text = evaluate_real_again(Path("models"), Path("own"), meta)  # type: ignore[arg-type]
    args = command_args(text, "evaluate-real")
    assert "--families" not in args, text
    assert parsed(args, "evaluate-real")["families"] == STUDY_FAMILIES
    assert "with --families of the test split of the data it was trained on" in text, text


def test_a_recorded_test_split_is_told_as_evaluate_real_takes_it():
    meta = engine_meta(test_fraction=0.25, **SUBSET)
    text = evaluate_real_again(Path("models"), Path("own"), meta)  # type: ignore[arg-type]
    args = command_args(text, "evaluate-real")
    assert parsed(args, "evaluate-real")["families"] == 75, text  # 300 * 0.25
    assert "--families of the test split" not in text, text


# --- every option as the command takes it ----------------------------------------------------


@pytest.mark.parametrize("bad", [*NOT_FAMILIES, *NOT_SEED, *NOT_SIZE])
def test_every_command_named_is_one_train_engine_parses(bad):
    for data in (
        {"train_families": bad, "subset_seed": 3},
        {"train_families": 6, "subset_seed": bad},
        {"size": bad, **SUBSET},
        {"n": bad, "seed": bad, "size": bad, "train_families": bad, "subset_seed": bad},
    ):
        text, options = told(**data)
        recorded = engine_metrics(**data)["data"]
        for key in ("size", "n", "seed"):
            assert options[key] in (recorded[key], 128 if key == "size" else None), text
        assert options["families"] in (recorded["train_families"], None), text
        assert options["subset_seed"] in (recorded["subset_seed"], 0), text


def test_an_option_value_is_what_the_cli_takes():
    assert option_value("train-engine", "--size", 64) == 64
    for value in [31, 2049, True, "64", 64.0]:
        assert option_value("train-engine", "--size", value) is None, value
    assert option_value("train-engine", "--families", 0) is None
    assert option_value("train-engine", "--subset-seed", 7) == 7
    assert option_value("evaluate-real", "--families", 1) == 1


def test_what_is_not_recorded_is_said_in_one_way():
    assert unrecorded([], "x", "y") == ""
    said = unrecorded(["--a", "--b"], "the data", "the default")
    assert said == (
        ", with --a and --b of the data, which the model does not record (the default where "
        "left out)"
    )
