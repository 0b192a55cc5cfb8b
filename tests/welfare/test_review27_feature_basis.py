"""A fusion model is refused where its features would be computed otherwise than it was trained.

configs/welfare.yaml shapes feature values without renaming them: the subsistence minimum the
income and deposit figures are counted in, a category more in a category criterion (a family of
it reads as none of the model's categories), a criterion more (`missing_criteria` counts it).
The feature code changes values under the same names too. Each of these loaded before, and the
model read the same family's features with other values without a word. Words, units, sources,
ranges, order and the other thresholds decide no feature value: they still load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from shanyraq.errors import ModelMismatchError
from shanyraq.taxonomy import Taxonomy, get_taxonomy
from tests.welfare.families_helpers import family
from tests.welfare.fusion_file_helpers import rewrite
from vision.score import PhotoScore
from welfare.aggregate import aggregate
from welfare.criteria import WelfareConfig, get_welfare_config, load_welfare_config
from welfare.features import (
    FEATURES_VERSION,
    READ_CRITERIA,
    family_features,
    feature_basis,
    feature_space,
)
from welfare.fusion import FusionModel
from welfare.fusion_version import feature_basis_change, model_version
from welfare.schema import parse_family

ROOT = Path(__file__).resolve().parents[2]


def _criterion(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in data["criteria"] if c["name"] == name)


def _features(config: WelfareConfig, **criteria: Any) -> dict[str, float]:
    record = parse_family(family(config, **criteria), config=config)
    space = feature_space(config, get_taxonomy())
    return family_features(record, None, space=space, config=config)


def _refusal(model: FusionModel, folder: Path) -> str:
    with pytest.raises(ModelMismatchError) as refused:
        FusionModel.load(folder)
    text = str(refused.value)
    # Built again beside where it is, on the data it records (trained on (700, 3)).
    command = (
        f"retrain it with `shanyraq welfare train --out {folder.parent} --n 700 --seed 3 "
        f"--model {model.meta.name} --overwrite`"
    )
    assert text.startswith(f"{folder}: fusion model {model.meta.version} ") and command in text, (
        text
    )
    return text


def _defined(model: FusionModel, config: WelfareConfig) -> bool:
    """Whether every feature the model reads is still one `config` defines (nothing else
    refused it)."""
    names = feature_space(config, get_taxonomy()).names(with_visual=True)
    return set(model.features) <= set(names)


@pytest.mark.parametrize("name", ["lgbm_tabular", "rf_fused"])
def test_a_model_is_refused_under_another_subsistence_minimum(
    trained, welfare_config, tmp_path, edit_welfare, name
):
    model = trained[name]
    folder = model.save(tmp_path / name)
    now = edit_welfare(lambda d: d["thresholds"].update(subsistence_minimum_kzt=60000))
    assert _defined(model, now)
    before = _features(welfare_config, per_capita_income_kzt=60000.0)
    after = _features(now, per_capita_income_kzt=60000.0)
    assert before["income_subsistence_multiple"] > after["income_subsistence_multiple"] == 1.0
    text = _refusal(model, folder)
    assert "thresholds.subsistence_minimum_kzt was 46228, now 60000" in text, text
    assert f"was trained on {feature_basis_change(model.meta, now)}, " in text


def test_a_model_is_refused_when_a_criterion_gains_a_category(
    trained, welfare_config, tmp_path, edit_welfare
):
    model = trained["lgbm_tabular"]
    folder = model.save(tmp_path / "m")
    now = edit_welfare(lambda d: _criterion(d, "housing_tenure")["categories"].append("dormitory"))
    assert _defined(model, now)
    # A family in a dormitory reads as none of the tenures the model knows, a row it never saw.
    tenure = [f for f in model.features if f.startswith("housing_tenure=")]
    values = _features(now, housing_tenure="dormitory")
    assert len(tenure) == len(welfare_config.criterion("housing_tenure").categories or [])
    assert [values[f] for f in tenure] == [0.0] * len(tenure)
    text = _refusal(model, folder)
    assert "criterion housing_tenure's categories changed: dormitory added" in text, text


def _utility_debt(data: dict[str, Any]) -> None:
    data["criteria"].append(
        {"name": "utility_debt_kzt", "group": "material", "kind": "money", "unit": "KZT",
         "min": 0, "max": 1_000_000_000, "description": "Utility debts.", "source": "Utilities."}
    )  # fmt: skip


def test_a_model_is_refused_when_a_criterion_is_added(
    trained, welfare_config, tmp_path, edit_welfare
):
    model = trained["lgbm_tabular"]
    folder = model.save(tmp_path / "m")
    now = edit_welfare(_utility_debt)
    assert _defined(model, now)
    # The same family, its new criterion not known: one criterion more missing.
    assert _features(welfare_config)["missing_criteria"] == 0.0
    assert _features(now, utility_debt_kzt=None)["missing_criteria"] == 1.0
    text = _refusal(model, folder)
    assert "configs/welfare.yaml adds criteria utility_debt_kzt" in text, text


def test_a_model_is_refused_when_its_features_came_from_another_feature_code(trained, tmp_path):
    model = trained["lgbm_tabular"]
    folder = model.save(tmp_path / "m")
    rewrite(folder, lambda d: d["feature_basis"].update(code=FEATURES_VERSION - 1))
    text = _refusal(model, folder)
    assert (
        f"the feature code (welfare/features.py FEATURES_VERSION) was version "
        f"{FEATURES_VERSION - 1}, now {FEATURES_VERSION}" in text
    ), text


@pytest.mark.parametrize("recorded", ["46228", {"code": FEATURES_VERSION, "criteria": []}])
def test_a_feature_basis_in_another_form_is_refused(trained, tmp_path, recorded):
    model = trained["lgbm_tabular"]
    folder = model.save(tmp_path / "m")
    rewrite(folder, lambda d: d.update(feature_basis=recorded))
    text = _refusal(model, folder)
    assert "fusion.json's feature_basis is not one this version reads" in text, text


def _shuffled(data: dict[str, Any]) -> None:
    data["criteria"].reverse()
    _criterion(data, "housing_tenure")["categories"].reverse()


@pytest.mark.parametrize(
    "change",
    [
        lambda d: _criterion(d, "per_capita_income_kzt").update(unit="KZT a member a month"),
        lambda d: _criterion(d, "per_capita_income_kzt").update(description="Other words."),
        lambda d: _criterion(d, "per_capita_income_kzt").update(max=30_000_000),
        lambda d: _criterion(d, "head_education_level").update(kind="count"),
        lambda d: d["thresholds"].update(subsistence_minimum_source="Another law."),
        lambda d: d["rules"]["level6"].update(min_vehicles=3),
        _shuffled,
    ],
    ids=["unit", "words", "range", "kind", "source", "rule", "order"],
)
def test_an_edit_that_decides_no_feature_value_still_loads(
    trained, welfare_config, tmp_path, edit_welfare, change
):
    model = trained["lgbm_tabular"]
    folder = model.save(tmp_path / "m")
    now = edit_welfare(change)
    tenure = welfare_config.criterion("housing_tenure").categories or []
    assert _features(now, housing_tenure=tenure[0]) == pytest.approx(
        _features(welfare_config, housing_tenure=tenure[0]), nan_ok=True
    )
    assert FusionModel.load(folder).meta.version == model.meta.version


def test_a_model_saved_before_the_basis_was_recorded_loads_with_a_warning(
    trained, tmp_path, caplog
):
    model = trained["lgbm_tabular"]
    folder = model.save(tmp_path / "m")
    rewrite(folder, lambda d: d.pop("feature_basis"))
    with caplog.at_level(logging.WARNING, logger="welfare.fusion_version"):
        loaded = FusionModel.load(folder)
    assert loaded.meta.feature_basis is None and loaded.meta.version == model.meta.version
    assert feature_basis_change(loaded.meta, get_welfare_config()) is None
    assert f"{folder}: fusion model {model.meta.version} does not record what" in caplog.text
    assert (
        f"retrain it with `shanyraq welfare train --out {tmp_path} --n 700 --seed 3 --model "
        f"lgbm_tabular --overwrite` (first move m out of {tmp_path}: "
    ) in caplog.text
    assert "<its name>)) to record it" in caplog.text


def test_the_basis_is_recorded_without_changing_the_version(trained, welfare_config, caplog):
    model = trained["rf_tabular"]
    assert model.meta.feature_basis == feature_basis(welfare_config)
    assert model.meta.feature_basis["subsistence_minimum_kzt"] == 46228
    unrecorded = replace(model.meta, feature_basis=None)
    assert model_version(unrecorded, model.level_head, model.asp_head) == model.meta.version


# --- FEATURES_VERSION: bumped whenever the feature code computes other features --------------

# The digest of `_computed_features` under each FEATURES_VERSION. When the test below fails, the
# code computes other features than the saved models were trained on: bump FEATURES_VERSION in
# welfare/features.py and add a line here (never edit one), so those models are refused.
DIGESTS = {
    1: "f9fb305c4ca2ea10e3116f41009b0bd502f15be21f705cc13b2286f7fad7777f",
}


def _fixed_config(tmp_path: Path) -> WelfareConfig:
    """The shipped welfare.yaml with criteria and thresholds of the test's own: its features
    change only when the code computing them does (welfare.features, welfare.aggregate)."""
    data = yaml.safe_load((ROOT / "configs" / "welfare.yaml").read_text(encoding="utf-8"))
    bounds = {"money": (0, 10**10), "count": (0, 50), "flag": (None, None)}
    criteria = []
    for name, kind in READ_CRITERIA.items():
        low, high = (1, 50) if name == "members_total" else bounds[kind]
        criteria.append(
            {"name": name, "group": "material", "kind": kind, "unit": "u", "description": name,
             "source": "s", "min": low, "max": high}
        )  # fmt: skip
    criteria.append(
        {"name": "tenure", "group": "material", "kind": "category", "unit": "u",
         "categories": ["owned", "rented"], "description": "tenure", "source": "s"}
    )  # fmt: skip
    data["criteria"] = criteria
    data["thresholds"]["subsistence_minimum_kzt"] = 50000
    data["settlements"] = ["urban", "rural"]
    data["fusion"]["context_features"] = ["settlement"]
    data["disjoint_counts"] = []
    data["recommendation"].update(review_if_missing=["members_total"])
    data["recommendation"].update(review_if_missing_more_than=None)
    path = tmp_path / "welfare.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_welfare_config(path)


def _photo(taxonomy: Taxonomy, room: str, grade: int, sign: str, n: int) -> PhotoScore:
    """A photo certain of its room and grade, showing one sign (none of the others)."""
    return PhotoScore(
        photo_sha256=f"{n:064x}",
        model_version="vision-test",
        room={r: float(r == room) for r in taxonomy.room_names},
        condition={g: float(g == grade) for g in taxonomy.condition_values},
        signs={s: 0.8 if s == sign else 0.0 for s in taxonomy.sign_names},
        embedding=np.zeros(0),
    )


def _computed_features(config: WelfareConfig, taxonomy: Taxonomy) -> list[tuple[str, Any]]:
    """One fixed family's features, in order, with two photos: a room's and a sign's name
    stand for the taxonomy's (which has a version of its own), so only the code decides them."""
    rooms = taxonomy.dwelling_rooms
    need = next(s.name for s in taxonomy.signs.classes if s.points_to == "need")
    rich = next(s.name for s in taxonomy.signs.classes if s.points_to == "welfare")
    grades = taxonomy.condition_values
    photos = [_photo(taxonomy, rooms[0], grades[1], need, 1),
              _photo(taxonomy, rooms[1], grades[-2], rich, 2)]  # fmt: skip
    visual = aggregate(photos, expected_rooms=rooms[:3], taxonomy=taxonomy)
    values: dict[str, Any] = {
        "per_capita_income_kzt": 61000, "members_total": 4, "members_working": 1,
        "bank_deposits_kzt": 250000, "dwellings_owned": 1, "vehicles_owned": None,
        "has_legal_entity": False, "informal_employment_signs": True, "foreign_trips_12m": 2,
        "large_purchases_12m_kzt": 1500000, "tenure": "rented",
    }  # fmt: skip
    record = parse_family(
        {"family_id": "f", "region": config.regions[0], "settlement": "rural",
         "head_gender": config.head_genders[0], "criteria": values},
        config=config,
    )  # fmt: skip
    space = feature_space(config, taxonomy)
    features = family_features(record, visual, space=space, config=config, taxonomy=taxonomy)
    stands_for = {f"vis_condition_{room}": "vis_condition_<room>" for room in rooms}
    for sign in taxonomy.sign_names:
        stands_for |= {f"vis_sign_{s}_{sign}": f"vis_sign_{s}_<sign>" for s in ("mean", "max")}
    out: list[tuple[str, Any]] = []
    run: list[str] = []  # the names standing for the taxonomy's in a row: each once, no value
    for name, value in features.items():
        if name not in stands_for:
            run = []
            out.append((name, None if math.isnan(value) else round(value, 9)))
        elif stands_for[name] not in run:
            run.append(stands_for[name])
            out.append((stands_for[name], None))
    return out


def test_the_feature_code_computes_what_its_version_says(tmp_path):
    computed = _computed_features(_fixed_config(tmp_path), get_taxonomy())
    digest = hashlib.sha256(json.dumps(computed).encode()).hexdigest()
    assert DIGESTS.get(FEATURES_VERSION) == digest, (
        f"the features' names, order or values changed (now {digest}): bump FEATURES_VERSION "
        f"in welfare/features.py and add {FEATURES_VERSION + 1}: {digest!r} to DIGESTS; "
        f"computed {computed}"
    )
    assert len(set(DIGESTS.values())) == len(DIGESTS), "two versions compute the same features"


def test_a_model_fitted_under_a_config_of_its_own_records_that_config_basis(
    family_data, welfare_config
):
    # fit_on recorded configs/welfare.yaml's basis whatever config it was given, so a model
    # fitted under another minimum was refused under its own and loaded under the file's.
    from welfare.features import feature_basis
    from welfare.train import fit_on

    thresholds = welfare_config.thresholds.model_copy(
        update={"subsistence_minimum_kzt": welfare_config.thresholds.subsistence_minimum_kzt + 1}
    )
    other = welfare_config.model_copy(update={"thresholds": thresholds})
    model = fit_on(family_data.subset(range(300)), "lgbm_tabular", config=other, seed=0, source={})
    assert model.meta.feature_basis == feature_basis(other)
    assert model.meta.feature_basis != feature_basis(welfare_config)
