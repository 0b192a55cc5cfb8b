"""The fairness figures record how their intervals were drawn, and the report says it.

`welfare evaluate` drew the groups' bootstrap intervals with `--n-boot` resamples and the data
seed, but neither was written to metrics.json nor said in the report: a reader could not tell
200 resamples from 20, nor redraw the intervals.
"""

from __future__ import annotations

from welfare.evaluation import GROUPINGS, evaluate_models
from welfare.fairness import fairness_table
from welfare.fairness_report import fairness_lines


def test_fairness_records_and_reports_its_resamples_and_seed(trained, family_data, welfare_config):
    test = family_data.subset(range(700, 900))
    models = {"lgbm_tabular": trained["lgbm_tabular"]}
    result = evaluate_models(models, test, config=welfare_config, n_boot=7, seed=5)
    fairness = result["fairness"]
    assert (fairness["n_boot"], fairness["seed"]) == (7, 5)
    # What is recorded draws the figures again, one for one.
    redrawn = fairness_table(
        result["_frames"]["lgbm_tabular"],
        groupings=GROUPINGS,
        n_boot=fairness["n_boot"],
        seed=fairness["seed"],
        min_families=welfare_config.fairness.min_families_per_group,
    )
    assert [f.to_dict() for f in redrawn] == fairness["figures"]
    text = "\n".join(fairness_lines(result))
    assert "bootstrap of its families (7 resamples of all the families evaluated, seed 5)" in text


def test_figures_of_before_the_draws_were_recorded_still_render():
    figures = {"model": "m", "figures": []}
    text = "\n".join(fairness_lines({"fairness": figures}))
    assert "bootstrap of its families;" in text and "resamples" not in text
