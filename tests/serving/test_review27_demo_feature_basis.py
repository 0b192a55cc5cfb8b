"""The demo's start after configs/welfare.yaml's subsistence minimum changed: the demo fusion
model, whose income features were computed in the old minimum, is trained again (saying why),
not left for the service to refuse at start with the retrain message."""

from __future__ import annotations

from typing import Any

import pytest

from serving import demo_build
from serving.demo_models import stale_because
from shanyraq.errors import ModelMismatchError
from welfare.criteria import get_welfare_config
from welfare.fusion import FusionModel
from welfare.model_folder import read_meta


def _higher_minimum(data: dict[str, Any]) -> None:
    data["thresholds"]["subsistence_minimum_kzt"] += 10_000


def test_a_demo_model_of_another_subsistence_minimum_is_trained_again(
    demo_paths, edit_config, caplog
):
    demo_build.ensure_models(demo_paths)
    before = read_meta(demo_paths.fusion_dir)
    assert before.feature_basis is not None
    edit_config("welfare.yaml", _higher_minimum)
    config = get_welfare_config()
    why = stale_because(demo_paths.fusion_dir, before, config)
    assert why is not None and "subsistence_minimum_kzt" in why
    with pytest.raises(ModelMismatchError):  # what the service would have said at start
        FusionModel.load(demo_paths.fusion_dir)
    with caplog.at_level("WARNING", logger="serving.demo_models"):
        demo_build.ensure_models(demo_paths)
    assert f"was trained under other configs than now: {why}" in caplog.text
    after = FusionModel.load(demo_paths.fusion_dir)  # trained under this minimum: served
    assert stale_because(demo_paths.fusion_dir, after.meta, config) is None
