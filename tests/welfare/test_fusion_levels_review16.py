"""Review 16: a head file fitted on another number of levels than fusion.json lists (its
outputs would be read as other levels without a word) is refused when the model loads."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import joblib
import numpy as np
import pytest

from shanyraq.errors import ModelMismatchError
from welfare.fusion import FusionModel
from welfare.heads import ForestHead, LightGBMHead


def _refusal(folder: Path, file: str, part: str, gives: int, lists: str) -> str:
    return (
        rf"{re.escape(str(folder / file))}: the {part} head gives {gives} levels?, but .*"
        rf"{re.escape(lists)}"
    )


def test_a_cumulative_head_of_fewer_boosters_is_refused(trained, tmp_path):
    folder = trained["lgbm_fused"].save(tmp_path / "m")
    path = folder / "level.json"
    boosters = json.loads(path.read_text(encoding="utf-8"))["boosters"]
    assert len(boosters) == 5  # six levels: five "above level k" questions
    path.write_text(json.dumps({"boosters": boosters[:3]}), encoding="utf-8")
    expected = _refusal(folder, "level.json", "level", 4, "6 levels [1, 2, 3, 4, 5, 6]")
    with pytest.raises(ModelMismatchError, match=expected):
        FusionModel.load(folder)


@pytest.mark.parametrize("n_classes", [4, 8])
def test_a_forest_of_another_number_of_levels_is_refused(trained, tmp_path, n_classes):
    folder = trained["rf_fused"].save(tmp_path / "m")
    path = folder / "level.joblib"
    saved = joblib.load(path)
    forest = saved["forest"]
    if n_classes < 6:  # a forest fitted on fewer levels, as one of another model would be
        rng = np.random.default_rng(0)
        x = rng.normal(size=(40, forest.n_features_in_))
        forest = ForestHead.fit(x, np.arange(40) % n_classes, n_classes=n_classes,
                                recipe=_recipe(trained), seed=0).forest  # fmt: skip
    joblib.dump({"forest": forest, "n_classes": n_classes}, path)
    expected = _refusal(folder, "level.joblib", "level", n_classes, "[1, 2, 3, 4, 5, 6]")
    with pytest.raises(ModelMismatchError, match=expected):
        FusionModel.load(folder)


def test_a_multiclass_booster_of_another_number_of_levels_is_refused(trained, tmp_path):
    model = trained["lgbm_fused"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(model.features)))
    head = LightGBMHead.fit(x, np.arange(200) % 4, n_classes=4, recipe=_recipe(trained), seed=0)
    meta = dataclasses.replace(model.meta, level_objective="multiclass")
    folder = FusionModel(meta, head, model.asp_head).save(tmp_path / "m")
    expected = _refusal(folder, "level.txt", "level", 4, "[1, 2, 3, 4, 5, 6]")
    with pytest.raises(ModelMismatchError, match=expected):
        FusionModel.load(folder)


def test_an_asp_head_that_gives_levels_is_refused(trained, tmp_path):
    folder = trained["rf_fused"].save(tmp_path / "m")
    (folder / "asp.joblib").write_bytes((folder / "level.joblib").read_bytes())
    with pytest.raises(ModelMismatchError, match=_refusal(folder, "asp.joblib", "asp", 6, "2")):
        FusionModel.load(folder)


@pytest.mark.parametrize("name", ["lgbm_fused", "lgbm_tabular", "rf_fused", "rf_tabular"])
def test_a_whole_model_of_every_kind_still_loads(trained, tmp_path, name):
    folder = trained[name].save(tmp_path / name)
    assert FusionModel.load(folder).meta.version == trained[name].meta.version


def _recipe(trained):
    from welfare.criteria import FusionRecipe

    recipe = trained["lgbm_fused"].meta.recipe
    return FusionRecipe.model_validate(recipe)
