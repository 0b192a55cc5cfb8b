"""Review 26 of the demo's start after configs/taxonomy.yaml changed: a fused demo fusion model
trained under another taxonomy is trained again (saying why), not left for the service to
refuse with the retrain message."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from serving import demo_build
from serving.demo_build import DemoPaths
from serving.demo_models import stale_because
from shanyraq.errors import ModelMismatchError
from shanyraq.taxonomy import get_taxonomy
from welfare.criteria import get_welfare_config
from welfare.fusion import FusionModel
from welfare.model_folder import read_meta

MOVED_SIGN = "solid_fuel_stove"


def _stove_points_to_welfare(data: dict[str, Any]) -> None:
    """Version 2 of the taxonomy: the solid-fuel stove points to welfare, every name kept (so
    the fused model's features are all still there, with another meaning)."""
    data["version"] += 1
    (sign,) = [s for s in data["signs"]["classes"] if s["name"] == MOVED_SIGN]
    assert sign["points_to"] == "need"
    sign["points_to"] = "welfare"


@pytest.fixture
def fused_demo(demo_paths: DemoPaths) -> DemoPaths:
    return replace(demo_paths, fusion_model="lgbm_fused")


def test_a_fused_demo_model_of_another_taxonomy_is_trained_again(fused_demo, edit_config, caplog):
    # Before, the model it could not load was called current: `make demo` then stopped at the
    # service's start with "retrain it", instead of training it again as for a levels change.
    demo_build.ensure_models(fused_demo)
    before = read_meta(fused_demo.fusion_dir)
    assert before.taxonomy_sha256 == get_taxonomy().fingerprint()
    edit_config("taxonomy.yaml", _stove_points_to_welfare)
    now = get_taxonomy()
    why = stale_because(fused_demo.fusion_dir, before, get_welfare_config())
    assert why == (
        f"its photo features were read under another taxonomy ({before.taxonomy_sha256[:12]}) "
        f"than configs/taxonomy.yaml's, version {now.version} ({now.fingerprint()[:12]})"
    )
    with pytest.raises(ModelMismatchError):  # what the service would have said
        FusionModel.load(fused_demo.fusion_dir)
    with caplog.at_level("WARNING", logger="serving.demo_models"):
        demo_build.ensure_models(fused_demo)
    assert f"was trained under other configs than now: {why}" in caplog.text
    after = FusionModel.load(fused_demo.fusion_dir)  # trained under this taxonomy: served
    assert after.meta.taxonomy_sha256 == now.fingerprint()
    assert stale_because(fused_demo.fusion_dir, after.meta, get_welfare_config()) is None
