"""The demo's fusion model after configs/welfare.yaml changed in a part its training does not
read (`fairness.intervals`, which shape only the evaluation report's fairness intervals): the
same model is served, neither trained nor checked again (its training families are not
regenerated); a change its training reads still trains it."""

from __future__ import annotations

from typing import Any

from serving import demo_build
from tests.serving.demo_helpers import raise_poverty_line
from welfare.model_folder import read_meta


def _more_bootstrap_draws(data: dict[str, Any]) -> None:
    data["fairness"]["intervals"]["min_bootstrap_draws"] += 60


def test_fairness_intervals_alone_do_not_train_the_demo_fusion_model_again(
    demo_paths: Any,
    work: dict[str, int],
    edit_config: Any,
) -> None:
    demo_build.ensure_models(demo_paths)
    first = read_meta(demo_paths.fusion_dir).version
    assert work["trained"] == 1
    generated = work["generated"]
    edit_config("welfare.yaml", _more_bootstrap_draws)
    demo_build.ensure_models(demo_paths)
    demo_build.ensure_models(demo_paths)
    assert work["trained"] == 1
    assert work["generated"] == generated  # its key did not change: nothing to check again
    assert read_meta(demo_paths.fusion_dir).version == first
    # A key the training reads (the poverty line draws the ASP labels): trained again.
    edit_config("welfare.yaml", raise_poverty_line)
    demo_build.ensure_models(demo_paths)
    assert work["trained"] == 2
    assert read_meta(demo_paths.fusion_dir).version != first
