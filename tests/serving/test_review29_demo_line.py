"""The demo's fusion model, not trained again beside models of another poverty line, says so.

Before, `shanyraq demo` refused with "trained on other families than the configs generate now, or
on features computed otherwise than now" when the models beside its own had been trained under
the poverty line configs/welfare.yaml had before: the line, the refusal's own reason, went
unsaid.
"""

from __future__ import annotations

import pytest

from serving import demo_build
from serving.demo_models import DemoFusionMixError
from tests.serving.demo_helpers import raise_poverty_line
from welfare.criteria import get_welfare_config
from welfare.train import train_models


def test_a_demo_model_beside_models_of_another_poverty_line_names_the_line(demo_paths, edit_config):
    train_models(
        demo_paths.fusion_root, n=400, seed=0, names=["lgbm_tabular", "rf_tabular"],
        config=get_welfare_config(),
    )  # fmt: skip
    edit_config("welfare.yaml", raise_poverty_line)
    with pytest.raises(DemoFusionMixError) as refused:
        demo_build.ensure_models(demo_paths)
    message = refused.value.message
    assert (
        f"{demo_paths.fusion_root} also holds rf_tabular, trained on ASP labels drawn under "
        "another poverty line than now (rf_tabular: its ASP labels were drawn under the poverty "
        "line 32,360 KZT (configs/welfare.yaml thresholds.poverty_line_kzt is 37,360 KZT now)"
    ) in message, message
    assert "features computed otherwise" not in message, message
    assert "--model" not in message, message  # `shanyraq demo` has none
    assert f"`shanyraq welfare train --overwrite --out {demo_paths.fusion_root}`" in message
