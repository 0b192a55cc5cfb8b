"""Every refusal or warning about one fusion model names the command that builds that model.

Before, a model's wrong levels, missing or undefined features, another taxonomy, head files of
another model and photo coverage over rooms it cannot use were all told to `shanyraq welfare
train`, also for a model `welfare train-engine` built (which `welfare train` cannot build). And
`welfare train` beside a train-engine model in its --out said to train them together, naming
every model with --model, which cannot name that model.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from shanyraq.errors import ModelMismatchError
from shanyraq.taxonomy import load_taxonomy
from tests.welfare.families_helpers import family
from tests.welfare.fusion_file_helpers import rewrite
from welfare.assess import assess, coverage_rooms
from welfare.cli import app
from welfare.fusion import FusionModel
from welfare.model_folder import TrainingDataMismatchError
from welfare.schema import parse_family
from welfare.train import train_models

ROOT = Path(__file__).resolve().parents[2]
KINDS = pytest.mark.parametrize(
    ("kind", "command"), [("simulated", "train"), ("engine", "train-engine")]
)
# Every command a text names, each as `shanyraq welfare COMMAND [options]`.
NAMED = re.compile(r"`shanyraq welfare ([a-z-]+)[^`]*`")


@pytest.fixture(scope="module")
def simulated_model(tmp_path_factory, config) -> Path:
    """lgbm_fused as `welfare train` saves it, on the same data (test_review28_basis's, once for
    the module: these tests copy it before changing it)."""
    out = tmp_path_factory.mktemp("simulated28")
    n, seed = config.fusion.n_families, config.fusion.seed
    train_models(out, n=n, seed=seed, names=["lgbm_fused"], config=config, keep_meaningless=True)
    return out / "lgbm_fused"


def named(text: str) -> list[str]:
    """The commands `text` names, each checked to be one `shanyraq welfare` has."""
    commands = {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}
    found = NAMED.findall(text)
    assert set(found) <= commands, (found, commands)
    return found


def model_of(request: pytest.FixtureRequest, kind: str) -> Path:
    return request.getfixturevalue(f"{kind}_model")


def copied(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "copy" / folder.name))


def refused_load(folder: Path, **kwargs: Any) -> str:
    with pytest.raises(ModelMismatchError) as refused:
        FusionModel.load(folder, **kwargs)
    return str(refused.value)


# --- refusals on load and on predicting (welfare/fusion.py, welfare/head_checks.py) ---------


@KINDS
def test_a_model_of_other_levels_is_sent_to_its_own_command(request, config, kind, command):
    text = refused_load(model_of(request, kind), levels=[1, 2, 3], config=config)
    assert "trained on welfare levels" in text and named(text) == [command], text


@KINDS
def test_family_data_lacking_a_feature_of_the_model_names_its_command(
    request, config, kind, command
):
    model = FusionModel.load(model_of(request, kind), config=config)
    frame = pd.DataFrame([model.meta.background]).drop(columns=[model.features[0]])
    with pytest.raises(ModelMismatchError, match="needs features") as refused:
        model.predict(frame)
    assert named(str(refused.value)) == [command], str(refused.value)


@pytest.fixture(scope="module")
def other_taxonomy(tmp_path_factory):
    """configs/taxonomy.yaml as a later version with a sign that now points to welfare."""
    data = yaml.safe_load((ROOT / "configs" / "taxonomy.yaml").read_text(encoding="utf-8"))
    data["version"] += 1
    (sign,) = [s for s in data["signs"]["classes"] if s["name"] == "solid_fuel_stove"]
    sign["points_to"] = "welfare"
    path = tmp_path_factory.mktemp("taxonomy") / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_taxonomy(path)


@KINDS
def test_a_model_under_another_taxonomy_is_sent_to_its_own_command(
    request, config, other_taxonomy, kind, command
):
    text = refused_load(model_of(request, kind), taxonomy=other_taxonomy, config=config)
    assert "taxonomy" in text and named(text) == [command], text


@pytest.fixture(scope="module")
def tabular_level_head(tmp_path_factory, config) -> Path:
    """The level head file of lgbm_tabular, fitted on fewer features than lgbm_fused."""
    out = tmp_path_factory.mktemp("tabular28")
    n, seed = config.fusion.n_families, config.fusion.seed
    train_models(out, n=n, seed=seed, names=["lgbm_tabular"], config=config, keep_meaningless=True)
    (head,) = (out / "lgbm_tabular").glob("level.*")
    return head


def _tabular_head(folder: Path, head: Path) -> None:
    shutil.copyfile(head, folder / head.name)


HEAD_FILE_CHANGES: dict[str, tuple[str, Callable[[Path, Path], object]]] = {
    "a head of another feature count": ("was fitted on", _tabular_head),
    "another digest": (
        "not the file this model was saved with",
        lambda folder, _: rewrite(
            folder, lambda d: d["head_sha256"].update(dict.fromkeys(d["head_sha256"], "0" * 64))
        ),
    ),
    "no digest of a head": (
        "records no digest",
        lambda folder, _: rewrite(folder, lambda d: d.update(head_sha256={})),
    ),
    "digests in no map": (
        "is not a map",
        lambda folder, _: rewrite(folder, lambda d: d.update(head_sha256=[])),
    ),
}


@KINDS
@pytest.mark.parametrize("change", list(HEAD_FILE_CHANGES))
def test_a_head_file_not_of_the_model_names_its_command(
    request, tmp_path, config, tabular_level_head, kind, command, change
):
    folder = copied(model_of(request, kind), tmp_path)
    said, edit = HEAD_FILE_CHANGES[change]
    assert tabular_level_head.name in {p.name for p in folder.iterdir()}  # the same head kind
    edit(folder, tabular_level_head)
    text = refused_load(folder, config=config)
    assert said in text and named(text) == [command], text


# --- assessing with the model (welfare/assess.py) --------------------------------------------


@pytest.fixture
def nothing_said_yet(monkeypatch):
    """No model's photo coverage logged about yet, as in a fresh service."""
    monkeypatch.setattr("welfare.assess._COVERAGE_SAID", set())


def with_rooms(model: FusionModel, rooms: list[str] | None) -> FusionModel:
    """The model as if its fusion.json recorded `rooms` as its recipe's expected rooms (None:
    no recipe, saved before recipes were recorded)."""
    recipe = None if rooms is None else {**(model.meta.recipe or {}), "expected_rooms": rooms}
    return FusionModel(replace(model.meta, recipe=recipe), model.level_head, model.asp_head)


def edited_rooms(config, rooms: list[str]):
    return config.model_copy(
        update={"fusion": config.fusion.model_copy(update={"expected_rooms": rooms})}
    )


@KINDS
@pytest.mark.usefixtures("nothing_said_yet")
@pytest.mark.parametrize(
    ("recorded", "said"),
    [(None, "does not record the rooms"), (["kitchen"], "applies the configuration")],
)
def test_coverage_warnings_name_the_models_command(
    request, config, taxonomy, caplog, kind, command, recorded, said
):
    model = with_rooms(FusionModel.load(model_of(request, kind), config=config), recorded)
    caplog.set_level(logging.WARNING, logger="welfare.assess")
    coverage_rooms(model, config=edited_rooms(config, ["kitchen", "bedroom"]), taxonomy=taxonomy)
    (text,) = [r.getMessage() for r in caplog.records if said in r.getMessage()]
    assert named(text) == [command], text


@KINDS
def test_coverage_over_rooms_that_are_not_dwelling_rooms_names_the_models_command(
    request, config, taxonomy, kind, command
):
    model = with_rooms(FusionModel.load(model_of(request, kind), config=config), ["garage"])
    with pytest.raises(ModelMismatchError, match="not dwelling rooms") as refused:
        coverage_rooms(model, config=config, taxonomy=taxonomy)
    assert named(str(refused.value)) == [command], str(refused.value)


@KINDS
def test_a_feature_the_configuration_does_not_define_names_the_models_command(
    request, config, kind, command
):
    loaded = FusionModel.load(model_of(request, kind), config=config)
    features = [*loaded.features[:-1], "vis_not_defined"]
    meta = replace(loaded.meta, features=features)
    model = FusionModel(meta, loaded.level_head, loaded.asp_head)
    record = parse_family(family(config), config=config)
    with pytest.raises(ModelMismatchError, match="does not define") as refused:
        assess(record, [], model=model, config=config)
    assert named(str(refused.value)) == [command], str(refused.value)


# --- `welfare train` beside models trained on other data (welfare/model_replacing.py) -------


def refused_training(out: Path, config, *, seed: int) -> str:
    """The refusal of training lgbm_tabular into `out` on data (48, seed)."""
    with pytest.raises(TrainingDataMismatchError) as refused:
        train_models(out, n=48, seed=seed, names=["lgbm_tabular"], config=config,
                     overwrite=True, keep_meaningless=True)  # fmt: skip
    return refused.value.message


def test_beside_a_train_model_on_other_data_the_refusal_says_to_train_them_together(
    tmp_path, config
):
    out = tmp_path / "wf"
    train_models(out, n=48, seed=6, names=["rf_tabular"], config=config, keep_meaningless=True)
    text = refused_training(out, config, seed=5)
    assert f"{out} also holds rf_tabular, trained on other data" in text, text
    assert "train them together (name every model with --model, or leave --model out" in text
    assert "train-engine" not in text and text.endswith("or train into a new folder (--out)")


def test_beside_a_train_engine_model_the_refusal_says_which_command_built_it(
    engine_model, tmp_path, config
):
    out = tmp_path / "wf"
    shutil.copytree(engine_model, out / engine_model.name)
    text = refused_training(out, config, seed=5)  # the data it was trained on, engine-scored
    assert f"{out} also holds {engine_model.name}, trained on other data" in text, text
    assert "--model" not in text and "together" not in text, text
    assert (
        f"{engine_model.name} was built by `shanyraq welfare train-engine` (lgbm_fused on the "
        "vision engine's photo scores), which `shanyraq welfare train` does not train: keep it "
        "in a folder of its own" in text
    ), text
    assert named(text) == ["train-engine", "train", "train-engine"], text
    assert "new folder (--out)" in text


def test_beside_both_kinds_the_refusal_says_what_to_do_about_each(engine_model, tmp_path, config):
    out = tmp_path / "wf"
    train_models(out, n=48, seed=6, names=["rf_tabular"], config=config, keep_meaningless=True)
    shutil.copytree(engine_model, out / engine_model.name)
    text = refused_training(out, config, seed=5)
    assert f"also holds {engine_model.name}, rf_tabular, trained on other data" in text, text
    assert "train rf_tabular together with lgbm_tabular (name every model with --model" in text
    assert f"{engine_model.name} was built by `shanyraq welfare train-engine`" in text, text
