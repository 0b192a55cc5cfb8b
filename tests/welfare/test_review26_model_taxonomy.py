"""A fusion model reading photo features is refused under another taxonomy than it was trained
under.

Its photo features are named by the taxonomy's rooms and signs and pooled by what each sign
points to: an edit of configs/taxonomy.yaml that keeps every name (a sign that now points to
welfare, a grade re-described) leaves the model's features all present, so nothing refused it,
and it read its photo features with another meaning. The vision model is refused on such an
edit (vision.artifact); the fused model beside it was not.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from shanyraq.errors import ModelMismatchError
from shanyraq.taxonomy import get_taxonomy, load_taxonomy
from tests.welfare.families_helpers import family
from vision.score import PhotoScore
from welfare.aggregate import aggregate
from welfare.criteria import get_welfare_config
from welfare.features import family_features, feature_space
from welfare.fusion import FusionModel
from welfare.fusion_version import model_version
from welfare.schema import parse_family

ROOT = Path(__file__).resolve().parents[2]
MOVED_SIGN = "solid_fuel_stove"


@pytest.fixture
def stove_points_to_welfare(tmp_path, monkeypatch):
    """configs/ whose taxonomy (version 2) has the solid-fuel stove point to welfare, every
    name as it was; the service and the CLI read it so."""
    folder = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", folder)
    path = folder / "taxonomy.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["version"] += 1
    (sign,) = [s for s in data["signs"]["classes"] if s["name"] == MOVED_SIGN]
    assert sign["points_to"] == "need"
    sign["points_to"] = "welfare"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("SHANYRAQ_CONFIGS_DIR", str(folder))
    get_taxonomy.cache_clear()
    get_welfare_config.cache_clear()
    yield get_taxonomy()
    get_taxonomy.cache_clear()  # monkeypatch restores the variable after this
    get_welfare_config.cache_clear()


def stove_family_features(welfare_config, taxonomy) -> dict[str, float]:
    """The features of a family with one kitchen photo showing a solid-fuel stove."""
    score = PhotoScore(
        photo_sha256="a" * 64,
        model_version="vision-1",
        room={r: float(r == "kitchen") for r in taxonomy.room_names},
        condition={g: float(g == 2) for g in taxonomy.condition_values},
        signs={s: float(s == MOVED_SIGN) for s in taxonomy.sign_names},
        embedding=np.zeros(0),
    )
    visual = aggregate([score], expected_rooms=["kitchen"], taxonomy=taxonomy)
    record = parse_family(family(welfare_config), config=welfare_config)
    space = feature_space(welfare_config, taxonomy)
    return family_features(record, visual, space=space, config=welfare_config, taxonomy=taxonomy)


def test_a_fused_model_is_refused_under_another_taxonomy(
    trained, welfare_config, tmp_path, stove_points_to_welfare
):
    model = trained["lgbm_fused"]
    other = stove_points_to_welfare
    # Every feature the model reads still exists, but the photo evidence means other things.
    assert set(model.features) <= set(feature_space(welfare_config, other).names(with_visual=True))
    trained_under = load_taxonomy(ROOT / "configs" / "taxonomy.yaml")
    assert trained_under.fingerprint() != other.fingerprint()
    before = stove_family_features(welfare_config, trained_under)
    after = stove_family_features(welfare_config, other)
    assert before["vis_need_signs"] > after["vis_need_signs"]

    folder = model.save(tmp_path / "lgbm_fused")
    with pytest.raises(ModelMismatchError) as refused:
        FusionModel.load(folder)
    text = str(refused.value)
    assert str(folder) in text and "taxonomy" in text and f"version {other.version}" in text
    # Built again where it is, on the data it records (trained on (700, 3)).
    command = (
        f"`shanyraq welfare train --out {tmp_path} --n 700 --seed 3 --model lgbm_fused "
        "--overwrite`, or serve"
    )
    assert command in text, text


def test_a_tabular_model_reads_no_photo_feature_and_still_loads(
    trained, tmp_path, stove_points_to_welfare
):
    model = trained["lgbm_tabular"]
    assert model.meta.taxonomy_sha256 is None
    loaded = FusionModel.load(model.save(tmp_path / "lgbm_tabular"))
    assert loaded.meta.version == model.meta.version


def test_a_fused_model_saved_before_the_taxonomy_was_recorded_still_loads(
    trained, tmp_path, stove_points_to_welfare
):
    folder = trained["rf_fused"].save(tmp_path / "rf_fused")
    meta_file = folder / "fusion.json"
    data = json.loads(meta_file.read_text(encoding="utf-8"))
    del data["taxonomy_sha256"]
    meta_file.write_text(json.dumps(data), encoding="utf-8")
    assert FusionModel.load(folder).meta.taxonomy_sha256 is None


def test_a_fused_model_records_the_taxonomy_without_changing_its_version(trained, tmp_path):
    model = trained["lgbm_fused"]
    assert model.meta.taxonomy_sha256 == get_taxonomy().fingerprint()
    unrecorded = replace(model.meta, taxonomy_sha256=None)
    assert model_version(unrecorded, model.level_head, model.asp_head) == model.meta.version
    assert FusionModel.load(model.save(tmp_path / "m")).meta.version == model.meta.version
