"""Review 18: a fusion model's folder loads only with the head files it was saved with.

Before, a head file copied in from another model fitted on the same features and levels (the
same model retrained on other families or with another seed) passed every check on load, so
the folder's fusion.json (version, calibration, training-data hash) described a model other
than the one that answered.
"""

from __future__ import annotations

import json
import shutil

import pytest

from shanyraq.errors import ModelMismatchError
from welfare.fusion import FusionModel
from welfare.model_folder import META_FILE
from welfare.train import fit_on


@pytest.mark.parametrize(
    ("name", "head"), [("lgbm_tabular", "asp.txt"), ("rf_tabular", "level.joblib")]
)
def test_a_head_file_of_the_same_model_retrained_is_refused_on_load(
    trained, family_data, welfare_config, tmp_path, name, head
):
    other = fit_on(family_data.subset(range(300)), name, config=welfare_config, seed=1, source={})
    assert other.features == trained[name].features  # every shape check passes
    folder = trained[name].save(tmp_path / "m")
    shutil.copyfile(other.save(tmp_path / "other") / head, folder / head)
    with pytest.raises(ModelMismatchError, match=rf"{head}: not the file this model was saved"):
        FusionModel.load(folder)


def test_a_saved_model_records_each_head_file_and_loads_whole(trained, tmp_path):
    folder = trained["rf_fused"].save(tmp_path / "m")
    recorded = json.loads((folder / META_FILE).read_text(encoding="utf-8"))["head_sha256"]
    assert sorted(recorded) == ["asp.joblib", "level.joblib"]
    loaded = FusionModel.load(folder)
    assert loaded.meta.version == trained["rf_fused"].meta.version
    assert loaded.meta.head_sha256 == recorded


def test_a_model_saved_before_head_files_were_recorded_still_loads(trained, tmp_path):
    folder = trained["lgbm_tabular"].save(tmp_path / "m")
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    del meta["head_sha256"]
    (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    assert FusionModel.load(folder).meta.head_sha256 is None
