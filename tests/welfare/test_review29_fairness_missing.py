"""A group the fairness bootstrap gives no interval is still reported, with an honest interval.

fairlearn resamples all the families at once, so a tiny group can be drawn in no resample (it is
then missing from `by_group_ci`) or drawn only without the families its figure rests on (its
interval is NaN). The report died with a KeyError on the first and carried NaN into the page
and plot on the second. Such a figure now keeps the module's rules (one family: the whole
range; all agree: exact) and otherwise gets Wilson's score interval, marked as such.
"""

from __future__ import annotations

import math
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

from tests.welfare.fairness_helpers import (
    HALF,
    fairness_figures,
    families_with_tiny_region,
    tiny_group,
)
from welfare import report
from welfare.evaluation import GROUPINGS, evaluate_models
from welfare.fairness import (
    UNKNOWN_GROUP,
    WHOLE_RANGE,
    WILSON,
    _frame,
    fairness_table,
    fnr,
    wilson_interval,
)
from welfare.fairness_report import fairness_lines

matplotlib.use("Agg")


# 48 families, two resamples: with this seed neither resample draws a `tiny` family.
UNDRAWN_SEED = 47


def _bootstrap_low(outcomes: pd.DataFrame, seed: int) -> pd.Series:
    """The low ends of fairlearn's FNR intervals by region, as fairness_table draws them."""
    eligible = outcomes["asp_eligible"].astype(int).to_numpy()
    offered = (outcomes["asp"] == "eligible").astype(int).to_numpy()
    regions = outcomes["region"].to_numpy()
    with warnings.catch_warnings():  # a figure undefined in every resample: All-NaN slice
        warnings.simplefilter("ignore", RuntimeWarning)
        frame = _frame(fnr, eligible, offered, regions, grouping="region", n_boot=2, seed=seed)
    return frame.by_group_ci[0]


def test_a_group_drawn_in_no_resample_is_reported_with_wilson_interval():
    outcomes = families_with_tiny_region(HALF)
    assert "tiny" not in _bootstrap_low(outcomes, UNDRAWN_SEED).index  # the case at hand
    result = fairness_figures(outcomes, UNDRAWN_SEED)
    tiny = tiny_group(result["fnr"])
    assert (tiny.n, tiny.denominator, tiny.value) == (2, 2, 0.5)
    assert (tiny.ci_low, tiny.ci_high) == pytest.approx(wilson_interval(1, 2))
    assert tiny.ci_method == WILSON
    assert "tiny" not in result["fnr"].left_out  # compared like any other group
    # Two resamples are too few for any bootstrap interval: every share between 0 and 1 of two
    # or more families is Wilson's (configs/welfare.yaml fairness.intervals.min_bootstrap_draws).
    shares = [g for g in result["fnr"].groups if 0 < g.value < 1 and g.denominator > 1]
    assert "tiny" in [g.group for g in shares] and {g.ci_method for g in shares} == {WILSON}
    for figure in result.values():
        assert [g.group for g in figure.groups] == ["north", "south", "tiny"]


def test_a_figure_undefined_in_every_resample_gets_wilson_interval_not_nan():
    # Four more `tiny` families, none eligible: the resamples draw some of them, never the two
    # eligible ones, so the group is in the bootstrap with an undefined (NaN) FNR.
    outcomes = families_with_tiny_region(HALF + [(False, "not_eligible", 3)] * 4)
    low = _bootstrap_low(outcomes, UNDRAWN_SEED)
    assert "tiny" in low.index and math.isnan(low["tiny"])  # the case at hand
    tiny = tiny_group(fairness_figures(outcomes, UNDRAWN_SEED)["fnr"])
    assert (tiny.denominator, tiny.value) == (2, 0.5)
    assert (tiny.ci_low, tiny.ci_high) == pytest.approx(wilson_interval(1, 2))
    assert tiny.ci_method == WILSON


def test_one_family_drawn_in_no_resample_keeps_the_whole_range():
    outcomes = families_with_tiny_region([(True, "needs_review", 2)])
    seed = 1  # 47 families: neither resample draws the `tiny` one
    assert "tiny" not in _bootstrap_low(outcomes, seed).index
    for figure in fairness_figures(outcomes, seed).values():
        tiny = tiny_group(figure)
        assert (tiny.denominator, tiny.ci_low, tiny.ci_high) == (1, 0.0, 1.0)
        assert tiny.ci_method == WHOLE_RANGE


@pytest.mark.parametrize("extra", [[], [(False, "not_eligible", 3)] * 4])
def test_page_and_plot_show_the_wilson_interval(tmp_path, extra):
    figures = fairness_table(
        families_with_tiny_region(HALF + extra),
        groupings=["region"],
        n_boot=2,
        seed=UNDRAWN_SEED,
        min_families=1,
    )
    result = {"models": {}, "fairness": {"model": "m", "figures": [f.to_dict() for f in figures]}}
    low, high = wilson_interval(1, 2)
    text = "\n".join(fairness_lines(result))
    assert f"tiny 50.0 % [{100 * low:.1f} %–{100 * high:.1f} %, Wilson] (n = 2)" in text
    assert "marked *Wilson*" in text
    paths = report._plots(result, out_dir=tmp_path, levels=[1, 2, 3], default="m")
    assert paths["fairness"].stat().st_size > 0


def test_evaluation_of_48_families_with_two_resamples_reports_every_group(
    tmp_path, trained, family_data, welfare_config
):
    models = {"lgbm_tabular": trained["lgbm_tabular"]}
    test = family_data.subset(range(700, 748))
    seed = 9  # a region of two families is drawn in neither resample
    result = evaluate_models(models, test, config=welfare_config, n_boot=2, seed=seed)
    outcomes = result.pop("_frames")["lgbm_tabular"]
    regions = set(outcomes["region"].astype(str))
    assert not regions <= set(_bootstrap_low(outcomes, seed).index)  # the case at hand
    for figure in result["fairness"]["figures"]:
        column = outcomes[figure["grouping"]].astype(object).fillna(UNKNOWN_GROUP).astype(str)
        assert {g["group"] for g in figure["groups"]} == set(column)
        for g in figure["groups"]:
            if g["value"] is not None:
                assert 0.0 <= g["ci_low"] <= g["ci_high"] <= 1.0
                assert np.isfinite([g["ci_low"], g["ci_high"]]).all()
    assert {f["grouping"] for f in result["fairness"]["figures"]} == set(GROUPINGS)
    context = {
        "command": "test",
        "default_model": result["default_model"],
        "data_note": "note",
        "notes": [],
        "n_families": 48,
        "seed": seed,
        "recipe": None,
    }
    page = report.write_report(
        result,
        out_dir=tmp_path / "out",
        markdown=tmp_path / "r.md",
        context=context,
        levels=[1, 2, 3, 4, 5, 6],
        targets=welfare_config.targets,
    )
    assert "## Fairness" in page.read_text()
    assert (tmp_path / "out" / "fairness_fnr.png").stat().st_size > 0
