"""The commands a refusal names read a model's recorded data one way, the notes after them keep
their words, and a model built as one this version no longer registers is told so.

Before, `welfare train-engine`'s command gave the data (n, seed) a model records as they were
recorded: `--n 300.0`, `--n True`, `--n -1` or `--seed True`, which train-engine refuses or
misreads, and a refusal for n recorded as "300" failed itself on comparing it with a number
(`welfare train`'s command took them only as whole numbers). A note said after a command
without its leading ", " lost its first letter. And a model whose fusion.json names a model no
longer registered was told `welfare train --model NAME`, alone or with its folder's other
models, which `welfare train` refuses as an unknown model.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from shanyraq.errors import ModelMismatchError
from tests.welfare.engine_study_helpers import SEED, N
from tests.welfare.fusion_file_helpers import refused_load, rewrite
from tests.welfare.named_command_helpers import every_command, option, the_command
from tests.welfare.recorded_metrics_helpers import Recorded, engine_metrics
from tests.welfare.welfare_config_helpers import other_poverty_line
from welfare import fusion
from welfare.criteria import MIN_RECIPE_FAMILIES
from welfare.fusion import list_models
from welfare.fusion_version import check_label_bases
from welfare.model_data import kept_meaningless, recorded_data, recorded_pair, said_after
from welfare.model_folder import model_folders, read_meta
from welfare.retrain_words import move_first, study_families, train_again, train_engine_again
from welfare.train import most_trained_on
from welfare.train_words import train_model_again

# Data values a model may record that no --n or --seed takes: not whole numbers, or n not
# positive.
NOT_WHOLE = ["300", 300.0, 3.5, True, None]
NOT_N = [*NOT_WHOLE, -1, 0]
GONE = "xgb_fused"  # a model name this version does not register


def whole(value: str) -> bool:
    return value.lstrip("-").isdigit()


# --- the data a model records: whole numbers, or said after the command -----------------------


@pytest.mark.parametrize("n", NOT_N)
def test_an_engine_model_recording_n_otherwise_is_told_to_give_it(n):
    text = train_engine_again(Path("own"), Recorded(engine_metrics(n=n)))
    args = the_command(text)
    assert "--n" not in args, text
    assert option(args, "--seed") == str(SEED), text
    assert "with --n of the data it was trained on, which the model does not record" in text


@pytest.mark.parametrize("seed", NOT_WHOLE)
def test_an_engine_model_recording_seed_otherwise_is_told_to_give_it(seed):
    text = train_engine_again(Path("own"), Recorded(engine_metrics(seed=seed)))
    args = the_command(text)
    assert "--seed" not in args and option(args, "--n") == "300", text
    assert "with --seed of the data it was trained on, which the model does not record" in text


@pytest.mark.parametrize("n", [N, 300])
def test_an_engine_model_recording_whole_numbers_is_told_them(n):
    text = train_engine_again(Path("own"), Recorded(engine_metrics(n=n, seed=7)))
    args = the_command(text)
    assert (option(args, "--n"), option(args, "--seed")) == (str(n), "7"), text
    assert ("--keep-meaningless" in args) == (n < MIN_RECIPE_FAMILIES), text
    assert "does not record" not in text, text


@pytest.mark.parametrize("n", NOT_N)
def test_every_reader_takes_the_recorded_data_alike(n, pair):
    metrics = engine_metrics(n=n, seed=True)
    assert recorded_data(metrics) == (None, None)
    # Nothing else is recorded of whether it was kept only with --keep-meaningless, and n tells
    # nothing: a command without --n trains on the recipe's data, which needs no such option.
    assert not kept_meaningless(metrics)
    engine = replace(read_meta(pair / "lgbm_fused"), metrics=metrics)
    assert study_families(engine) is None
    built = replace(read_meta(pair / "lgbm_fused"), metrics={"data": metrics["data"]})
    args = the_command(train_model_again(pair / "lgbm_fused", built), "train")
    assert "--n" not in args and "--seed" not in args, args


def test_every_option_a_command_names_is_a_whole_number():
    for n, seed in [("300", "7"), (300.0, 7.0), (True, False), (-1, 7), (N, SEED)]:
        text = train_engine_again(Path("own"), Recorded(engine_metrics(n=n, seed=seed)))
        args = the_command(text)
        for name in ("--n", "--seed"):
            assert name not in args or whole(option(args, name)), text


# --- notes said after a command --------------------------------------------------------------


def test_notes_said_after_a_command_keep_their_words_with_or_without_the_comma():
    assert said_after("with a", ", with b") == ", with a, and with b"
    assert said_after(", with a", "with b") == ", with a, and with b"
    assert said_after("", ", with a", "", "with b", "with c") == (
        ", with a, and with b, and with c"
    )
    assert said_after("", "") == ""


# --- a model built as one this version no longer registers ----------------------------------


def unregistered(pair: Path, tmp_path: Path) -> Path:
    """A copy of `pair`'s lgbm_fused whose fusion.json names a model no longer registered."""
    assert GONE not in list_models()
    folder = Path(shutil.copytree(pair / "lgbm_fused", tmp_path / "wf" / "lgbm_fused"))
    rewrite(folder, lambda data: data.update(name=GONE))
    return folder


def test_a_model_of_an_unregistered_name_is_told_so_not_a_refused_command(pair, tmp_path, config):
    folder = unregistered(pair, tmp_path)
    text = refused_load(folder, config)
    assert f"it was built as {GONE}, which this version no longer trains" in text, text
    for command in every_command(text, "train"):
        assert GONE not in command, text
    assert f"trains {', '.join(list_models())}" in text, text
    assert f"with --n {N} --seed {SEED} --keep-meaningless as it was trained" in text, text


def test_the_models_named_are_the_registered_ones(pair, monkeypatch):
    # lgbm_fused no longer registered: its model is told so, and the others are named.
    monkeypatch.delitem(fusion._REGISTRY, "lgbm_fused")
    text = train_model_again(pair / "lgbm_fused", read_meta(pair / "lgbm_fused"))
    assert "it was built as lgbm_fused, which this version no longer trains" in text, text
    assert "`shanyraq welfare train` trains lgbm_tabular, rf_fused, rf_tabular," in text, text
    assert every_command(text, "train") == [], text


def test_a_model_of_an_unregistered_name_not_recording_its_data_is_told_so(pair, tmp_path):
    meta = replace(read_meta(unregistered(pair, tmp_path)), metrics={})
    text = train_model_again(None, meta)
    assert f"it was built as {GONE}, which this version no longer trains" in text, text
    assert "with --n and --seed of the data it was trained on" in text, text
    assert every_command(text, "train") == [], text


def test_a_folder_holding_an_unregistered_model_is_told_to_move_it_out(pair, tmp_path, config):
    out = unregistered(pair, tmp_path).parent
    shutil.copytree(pair / "lgbm_tabular", out / "lgbm_tabular")
    metas = {folder.name: read_meta(folder) for folder in model_folders(out)}
    with pytest.raises(ModelMismatchError) as caught:
        check_label_bases(out, metas, other_poverty_line(config), n=N, seed=SEED)
    text = str(caught.value)
    (args,) = every_command(text, "train")
    assert GONE not in args and args.count("--model") == 1, text
    assert option(args, "--model") == "lgbm_tabular", text
    assert (
        f"first move lgbm_fused out of {out}: it holds a model built as {GONE}, which this "
        f"version no longer trains (`shanyraq welfare train` trains {', '.join(list_models())}"
    ) in text, text


def test_renamed_and_unregistered_models_are_each_said_what_they_hold(pair):
    fused, tabular = read_meta(pair / "lgbm_fused"), read_meta(pair / "lgbm_tabular")
    metas = {"lgbm_fused": replace(fused, name=GONE), "lgbm_tabular_2024": tabular}
    said = move_first(Path("wf"), metas)
    assert said.startswith("first move lgbm_fused, lgbm_tabular_2024 out of wf: "), said
    assert "lgbm_tabular_2024 holds lgbm_tabular in a folder of another name" in said, said
    assert f"lgbm_fused holds a model built as {GONE}, which this version no longer" in said
    args = the_command(train_again(Path("wf"), metas, n=N, seed=SEED), "train")
    assert option(args, "--model") == "lgbm_tabular" and args.count("--model") == 1, args


@pytest.mark.parametrize("n", NOT_N)
def test_data_to_train_again_on_is_taken_only_from_whole_numbers(n, pair, config):
    """`welfare train`'s data to train the rest on again, and a model's training source, read
    the recorded data as the commands do: a model recording n = "300" (or 3.5, True, -1) does not
    say it, so it counts for none, and the recipe's data are taken where no model says it."""
    built = read_meta(pair / "lgbm_fused")
    malformed = replace(built, metrics={"data": {**built.metrics["data"], "n": n}})
    assert most_trained_on({built.name: malformed}, config) == (
        config.fusion.n_families,
        config.fusion.seed,
    )
    assert most_trained_on({"a": malformed, "b": built}, config) == (N, SEED)
    assert recorded_pair(malformed.metrics) is None
    assert recorded_pair(built.metrics) == (N, SEED)
