"""Every folder (and other given argument) a welfare refusal names in a command to run is one word
of that command as a shell reads it, and a plain folder reads as given.

Before, only an engine model's vision folder was quoted: a folder with a space, a quote or `$`
in its name was named bare in `welfare train --out`, `train-engine --out`, `evaluate-real
--model/--engine-model` and `welfare train --model NAME`, so the command, copied to a shell, was
split into other arguments (or failed on an unclosed quote, or expanded `$...`).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from shanyraq.errors import ModelMismatchError
from tests.welfare.engine_study_helpers import PAIR, SEED, N
from tests.welfare.recorded_metrics_helpers import Recorded, engine_metrics
from welfare.cli import app
from welfare.criteria import get_welfare_config
from welfare.evaluation import FairnessModelMissingError, check_fairness_model
from welfare.fusion import FusionModel
from welfare.real_families import check_trained_on
from welfare.retrain_words import evaluate_real_again, train_again, train_engine_again
from welfare.train import load_trained_together
from welfare.train_words import train_model_again
from welfare.unread_words import SIMULATED, unread_again

# From tests/welfare/conftest.py, the fixture `pair`:
# lgbm_fused and lgbm_tabular as `welfare train` saves them on the small recipe's data (48, 5).

# A folder name a shell would split (space), fail on (quote) or expand (`$`), left as it is.
ODD = "my 'models $HOME"
NAMED = r"`shanyraq welfare {}((?: [^`]*)?)`"
runner = CliRunner()


def told(text: str, command: str) -> list[list[str]]:
    """The arguments of each `shanyraq welfare COMMAND ...` that `text` names, as a shell splits
    them."""
    return [shlex.split(args) for args in re.findall(NAMED.format(command), text)]


def the_args(text: str, command: str) -> list[str]:
    (args,) = told(text, command)
    return args


def parsed(args: list[str], command: str) -> dict[str, Any]:
    """The options `shanyraq welfare COMMAND ARGS` runs with, as welfare/cli.py parses them (it
    raises on any it refuses)."""
    group = get_command(app)
    assert isinstance(group, TyperGroup)
    return dict(group.commands[command].make_context(command, list(args)).params)


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


@pytest.fixture
def odd(tmp_path: Path) -> Path:
    return tmp_path / ODD


def train_meta(name: str = "lgbm_tabular") -> SimpleNamespace:
    """A model as `welfare train` records it: its name and data (300 families, seed 5)."""
    return SimpleNamespace(name=name, metrics={"data": {"n": 300, "seed": SEED}}, recipe=None)


# --- retrain_words ---------------------------------------------------------------------------


def test_train_again_names_its_folder_as_one_word(odd):
    text = train_again(odd, {"lgbm_tabular": train_meta()}, n=300, seed=SEED)
    args = the_args(text, "train")
    assert option(args, "--out") == str(odd), text
    assert parsed(args, "train")["out"] == odd, text


def test_train_engine_again_names_its_folder_as_one_word(odd):
    own = odd / "engine" / "lgbm_fused_engine"
    text = train_engine_again(own, Recorded(engine_metrics(train_families=6, subset_seed=3)))
    args = the_args(text, "train-engine")
    assert option(args, "--out") == str(own) and "--overwrite" in args, text
    assert parsed(args, "train-engine")["out"] == own, text


def test_evaluate_real_again_names_both_folders_as_one_word_each(odd):
    own = odd / "engine" / "lgbm_fused_engine"
    meta = SimpleNamespace(metrics=engine_metrics(), recipe={"test_fraction": 0.25})
    text = evaluate_real_again(odd, own, meta)
    args = the_args(text, "evaluate-real")
    assert (option(args, "--model"), option(args, "--engine-model")) == (str(odd), str(own))
    options = parsed(args, "evaluate-real")
    assert (options["model"], options["engine_model"]) == (odd, own), text


def test_a_shell_gives_back_the_folder_as_it_is(odd):
    """Run through a real shell, the words are the folder: nothing split, nothing expanded."""
    text = train_again(odd, {}, n=300, seed=SEED, first=["lgbm_tabular"])
    (args,) = re.findall(NAMED.format("train"), text)
    echoed = subprocess.run(
        ["sh", "-c", f"printf '%s\\0' {args}"], capture_output=True, check=True, text=True
    ).stdout
    words_ = echoed.split("\0")[:-1]
    assert words_[words_.index("--out") + 1] == str(odd), (args, words_)


def test_a_plain_folder_reads_as_given(tmp_path):
    out = tmp_path / "wf"
    text = train_again(out, {}, n=300, seed=SEED, first=["lgbm_tabular"])
    assert f"`shanyraq welfare train --out {out} --n 300 --seed {SEED} --model lgbm_tabular" in text


# --- train_words ---------------------------------------------------------------------------


def test_train_model_again_names_the_folder_above_as_one_word(odd):
    folder = odd / "lgbm_tabular"
    text = train_model_again(folder, train_meta())
    args = the_args(text, "train")
    assert option(args, "--out") == str(odd) and option(args, "--model") == "lgbm_tabular"
    assert parsed(args, "train")["out"] == odd, text


# --- unread_words --------------------------------------------------------------------------


def test_an_unread_model_in_its_out_is_told_its_out_as_one_word(odd):
    """Named as a registered model, recording nothing: `welfare train` with --out the folder
    above, or `train-engine` with --out the folder itself."""
    folder = odd / "lgbm_tabular"
    folder.mkdir(parents=True)
    text = unread_again(folder, None)
    assert option(the_args(text, "train"), "--out") == str(odd), text
    assert option(the_args(text, "train-engine"), "--out") == str(folder), text


def test_an_unread_model_of_another_name_is_told_its_folder_as_one_word(odd):
    folder = odd / "mine"
    folder.mkdir(parents=True)
    text = unread_again(folder, None)
    args = the_args(text, "train-engine")
    assert option(args, "--out") == str(folder), text
    assert parsed(args, "train-engine")["out"] == folder, text


def test_an_unread_renamed_model_of_train_is_told_its_out_as_one_word(odd):
    folder = odd / "mine"
    folder.mkdir(parents=True)
    data = {"metrics": {"data": {"photos": SIMULATED, "n": 300, "seed": SEED}}}
    text = unread_again(folder, data)
    args = the_args(text, "train")
    assert option(args, "--out") == str(odd), text
    assert parsed(args, "train")["out"] == odd, text


# --- real_families -------------------------------------------------------------------------


def test_models_of_another_split_are_told_their_folder_as_one_word(odd):
    chosen = get_welfare_config()
    other = chosen.fusion.test_fraction / 2
    meta = SimpleNamespace(name="lgbm_tabular", metrics={}, recipe={"test_fraction": other})
    models = {"lgbm_tabular": SimpleNamespace(meta=meta)}
    with pytest.raises(ModelMismatchError) as caught:
        check_trained_on(models, folder=odd, n=300, seed=SEED, config=chosen)
    text = str(caught.value)
    args = the_args(text, "train")
    assert option(args, "--out") == str(odd), text
    assert parsed(args, "train")["out"] == odd, text


# --- evaluation ----------------------------------------------------------------------------


def test_a_fairness_model_not_evaluated_is_told_as_one_word():
    asked = "lgbm fused'$x"
    with pytest.raises(FairnessModelMissingError) as caught:
        check_fairness_model(asked, ["lgbm_fused"])
    text = str(caught.value)
    assert the_args(text, "train") == ["--model", asked], text


# --- through the CLI -----------------------------------------------------------------------


def test_the_command_told_for_a_folder_with_a_space_runs_as_told(
    pair, tmp_path, config, cli_config
):
    """`welfare evaluate` on a folder whose lgbm_tabular cannot be read tells the `welfare train`
    command that builds it again there; run as a shell splits it, it does."""
    out = Path(shutil.copytree(pair, tmp_path / ODD))
    folder = out / "lgbm_tabular"
    (folder / "fusion.json").write_bytes(b"{")
    cli_config(config)
    report = ["--out", str(tmp_path / "eval"), "--markdown", str(tmp_path / "eval.md")]
    ran = runner.invoke(app, ["evaluate", str(out), *report])
    assert isinstance(ran.exception, ModelMismatchError), (ran.output, ran.exception)
    args = the_args(str(ran.exception), "train")
    assert option(args, "--out") == str(out) and option(args, "--model") == "lgbm_tabular"
    again = runner.invoke(app, ["train", *args])
    assert again.exit_code == 0, (args, again.output, again.exception)
    FusionModel.load(folder, config=config)
    models, data = load_trained_together(out, config)
    assert set(models) == set(PAIR) and data == (N, SEED)
