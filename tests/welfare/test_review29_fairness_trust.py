"""A group's bootstrap interval stands only where it can be trusted; elsewhere Wilson's.

fairlearn takes a group's quantiles over the resamples that drew it with its figure defined,
however few they are. With two resamples a tiny region's level accuracy of 83.3 % (5 of its 6
families) read [100 %, 100 %], an interval that misses its own value, and the fairness report a
commission reads printed it. A bootstrap interval now stands only where the group was drawn,
with its figure defined, in at least 95 % of the resamples, and the interval holds the value and
has a width; any other figure gets Wilson's score interval, marked so.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.welfare.fairness_helpers import (
    HALF,
    fairness_figures,
    families_with_tiny_region,
    tiny_group,
)
from welfare.evaluation import evaluate_models
from welfare.fairness import (
    BOOTSTRAP,
    CLOPPER_PEARSON,
    WILSON,
    _frame,
    accuracy,
    configured_intervals,
    drawn_shares,
    fairness_table,
    fnr,
    group_interval,
    resampled_rows,
    wilson_interval,
)
from welfare.fairness_report import fairness_lines

ROOT = Path(__file__).resolve().parents[2]
# A tiny region of six eligible families offered `eligible`, the level of one of them wrong.
FIVE_OF_SIX = [(True, "eligible", 3)] * 5 + [(True, "eligible", 2)]


def _bootstrap(outcomes: pd.DataFrame, metric: str, *, n_boot: int, seed: int) -> pd.DataFrame:
    """fairlearn's own intervals by region (columns low, high), as fairness_table draws them."""
    if metric == "fnr":
        y_true = outcomes["asp_eligible"].astype(int).to_numpy()
        y_pred = (outcomes["asp"] == "eligible").astype(int).to_numpy()
        fn = fnr
    else:
        y_true, y_pred, fn = (
            outcomes["level"].to_numpy(),
            outcomes["level_pred"].to_numpy(),
            accuracy,
        )
    regions = outcomes["region"].to_numpy()
    with warnings.catch_warnings():  # a figure undefined in every resample: All-NaN slice
        warnings.simplefilter("ignore", RuntimeWarning)
        frame = _frame(fn, y_true, y_pred, regions, grouping="region", n_boot=n_boot, seed=seed)
    low, high = frame.by_group_ci
    return pd.DataFrame({"low": low, "high": high})


def test_an_interval_that_misses_the_value_gives_way_to_wilson():
    outcomes = families_with_tiny_region(FIVE_OF_SIX)
    seed = 2  # both resamples draw `tiny` families, neither the one whose level is wrong
    raw = _bootstrap(outcomes, "level_accuracy", n_boot=2, seed=seed).loc["tiny"]
    assert (raw["low"], raw["high"]) == (1.0, 1.0)  # the case at hand: 83.3 % [100 %-100 %]
    tiny = tiny_group(fairness_figures(outcomes, seed)["level_accuracy"])
    assert (tiny.denominator, tiny.value) == (6, pytest.approx(5 / 6))
    assert (tiny.ci_low, tiny.ci_high) == pytest.approx(wilson_interval(5, 6))
    assert tiny.ci_low < tiny.value < tiny.ci_high
    assert tiny.ci_method == WILSON


def test_an_interval_of_no_width_gives_way_to_wilson():
    outcomes = families_with_tiny_region(FIVE_OF_SIX)
    seed = 45  # both resamples draw the tiny region at exactly its value
    raw = _bootstrap(outcomes, "level_accuracy", n_boot=2, seed=seed).loc["tiny"]
    assert raw["low"] == raw["high"] == pytest.approx(5 / 6)  # the case at hand
    tiny = tiny_group(fairness_figures(outcomes, seed)["level_accuracy"])
    assert (tiny.ci_low, tiny.ci_high) == pytest.approx(wilson_interval(5, 6))
    assert tiny.ci_method == WILSON


def test_a_group_measured_in_too_few_resamples_gives_way_to_wilson():
    outcomes = families_with_tiny_region(HALF)  # FNR 1/2 on two eligible families
    n_boot, seed = 10, 27
    raw = _bootstrap(outcomes, "fnr", n_boot=n_boot, seed=seed).loc["tiny"]
    rows = resampled_rows(len(outcomes), n_boot=n_boot, seed=seed)
    eligible = outcomes["asp_eligible"].astype(int).to_numpy()
    share = drawn_shares(rows, outcomes["region"].to_numpy(), eligible)
    # The case at hand: an interval that holds the value, from 9 of the 10 resamples.
    least = configured_intervals().min_drawn_share
    assert raw["low"] < 0.5 < raw["high"] and share["tiny"] == 0.9 < least
    assert share["north"] == share["south"] == 1.0
    figure = fairness_table(
        outcomes, groupings=["region"], n_boot=n_boot, seed=seed, min_families=1
    )[0]
    assert figure.metric == "fnr"
    tiny = tiny_group(figure)
    assert (tiny.ci_low, tiny.ci_high) == pytest.approx(wilson_interval(1, 2))
    assert tiny.ci_method == WILSON


@pytest.mark.parametrize("seed", [2, 27, 45, 47])
@pytest.mark.parametrize("extra", [[], [(False, "not_eligible", 3)] * 4])
def test_the_draws_counted_are_fairlearns(seed, extra):
    """The rows `resampled_rows` draws give fairlearn's own intervals, group by group: the
    draws counted are the ones fairlearn's intervals rest on."""
    outcomes = families_with_tiny_region(HALF + FIVE_OF_SIX + extra)
    n_boot = 9
    rows = resampled_rows(len(outcomes), n_boot=n_boot, seed=seed)
    regions = outcomes["region"].to_numpy()
    eligible = outcomes["asp_eligible"].to_numpy()
    offered = (outcomes["asp"] == "eligible").to_numpy()
    right = (outcomes["level"] == outcomes["level_pred"]).to_numpy()
    for metric, rests_on, counted in [("fnr", eligible, ~offered), ("level", None, right)]:
        raw = _bootstrap(outcomes, metric, n_boot=n_boot, seed=seed)
        rests = np.ones(len(outcomes), dtype=bool) if rests_on is None else rests_on
        share = drawn_shares(rows, regions, rests.astype(int))
        for region in ["north", "south", "tiny"]:
            draws = []
            for drawn in rows:
                mine = drawn[(regions[drawn] == region) & rests[drawn]]
                if len(mine):
                    draws.append(counted[mine].mean())
            assert share[region] == len(draws) / n_boot
            if not draws:
                assert region not in raw.index or raw.loc[region].isna().all()
                continue
            expected = np.quantile(draws, [0.025, 0.975])
            assert raw.loc[region].to_numpy() == pytest.approx(expected)


def _shipped_outcomes(figures: dict[str, dict]) -> pd.DataFrame:
    """Families whose figures by one grouping are the shipped evaluation's (`figures`: its
    fnr, exclusion and level accuracy figures of that grouping, by metric)."""
    rows = []
    by_metric = {m: {g["group"]: g for g in f["groups"]} for m, f in figures.items()}
    for group, acc in by_metric["level_accuracy"].items():
        n, eligible = acc["n"], by_metric["fnr"][group]["denominator"]
        missed = round(by_metric["fnr"][group]["value"] * eligible)
        excluded = round(by_metric["exclusion"][group]["value"] * eligible)
        right = round(acc["value"] * n)
        for i in range(n):
            asp = "not_eligible" if i < excluded or i >= eligible else "eligible"
            asp = "needs_review" if excluded <= i < missed else asp
            rows.append(
                {
                    "asp_eligible": i < eligible,
                    "asp": asp,
                    "level": 3,
                    "level_pred": 3 if i < right else 2,
                    "group": group,
                }
            )
    return pd.DataFrame(rows)


def _shipped() -> dict[str, dict[str, dict]]:
    """The shipped evaluation's fairness figures (docs/images/welfare/metrics.json), by grouping
    and metric."""
    shipped = json.loads((ROOT / "docs/images/welfare/metrics.json").read_text())
    by_grouping: dict[str, dict[str, dict]] = {}
    for figure in shipped["fairness"]["figures"]:
        by_grouping.setdefault(figure["grouping"], {})[figure["metric"]] = figure
    return by_grouping


# The shipped evaluation: 200 resamples (the default) seeded with the data's seed
# (configs/welfare.yaml `fusion.seed`).
SHIPPED_N_BOOT, SHIPPED_SEED = 200, 0


def test_the_shipped_evaluations_intervals_still_stand():
    """Every interval the shipped evaluation's bootstrap gave passes the rule, with the share of
    resamples that measure each group counted on families of its groups' sizes."""
    kept = 0
    for figures in _shipped().values():
        outcomes = _shipped_outcomes(figures)
        rows = resampled_rows(len(outcomes), n_boot=SHIPPED_N_BOOT, seed=SHIPPED_SEED)
        groups = outcomes["group"].to_numpy()
        for metric, figure in figures.items():
            on = outcomes["asp_eligible"] if metric != "level_accuracy" else outcomes["level"] > 0
            shares = drawn_shares(rows, groups, on.astype(int).to_numpy())
            for g in figure["groups"]:
                bootstrap = (g["ci_low"], g["ci_high"])
                interval, method = group_interval(
                    g["value"], g["denominator"], bootstrap, drawn_share=shares[g["group"]]
                )
                assert shares[g["group"]] == 1.0
                if 0 < g["value"] < 1:
                    assert (interval, method) == (bootstrap, BOOTSTRAP), (metric, g)
                    kept += 1
    assert kept == 30  # every fnr and level accuracy figure of the shipped evaluation


@pytest.mark.slow
def test_groups_of_the_shipped_sizes_keep_their_bootstrap_intervals():
    """fairlearn's own draws at the shipped evaluation's settings, on the grouping with its
    smallest groups (disability in family, `unknown`: 61 eligible of 158 families)."""
    figures = _shipped()["disability_in_family"]
    outcomes = _shipped_outcomes(figures)
    drawn = fairness_table(
        outcomes, groupings=["group"], n_boot=SHIPPED_N_BOOT, seed=SHIPPED_SEED, min_families=10
    )
    for figure in drawn:
        shipped = {g["group"]: g["value"] for g in figures[figure.metric]["groups"]}
        for g in figure.groups:
            assert g.value == pytest.approx(shipped[g.group])  # the shipped figure
            assert g.value is not None
            assert g.ci_method == (BOOTSTRAP if 0 < g.value < 1 else CLOPPER_PEARSON)


def test_every_interval_of_a_small_evaluation_holds_its_value(trained, family_data, welfare_config):
    models = {"lgbm_tabular": trained["lgbm_tabular"]}
    test = family_data.subset(range(700, 748))
    seed = 9  # few resamples: tiny groups' bootstrap intervals fail the rule
    # The fewest resamples a bootstrap is drawn from (fewer: none, every interval Wilson's).
    n_boot = welfare_config.fairness.intervals.min_bootstrap_draws
    result = evaluate_models(models, test, config=welfare_config, n_boot=n_boot, seed=seed)
    methods = set()
    for figure in result["fairness"]["figures"]:
        for g in figure["groups"]:
            if g["value"] is not None:
                assert g["ci_low"] <= g["value"] <= g["ci_high"], (figure["metric"], g)
                if 0 < g["value"] < 1 and g["denominator"] > 1:
                    assert g["ci_high"] > g["ci_low"], (figure["metric"], g)
                methods.add(g["ci_method"])
    assert {BOOTSTRAP, WILSON} <= methods  # some intervals stand, others give way


def test_the_report_says_when_the_bootstrap_stands():
    figures = fairness_table(
        families_with_tiny_region(FIVE_OF_SIX),
        groupings=["region"],
        n_boot=2,
        seed=2,
        min_families=1,
    )
    result = {"models": {}, "fairness": {"model": "m", "figures": [f.to_dict() for f in figures]}}
    text = " ".join(fairness_lines(result))
    low, high = wilson_interval(5, 6)
    assert f"tiny 83.3 % [{100 * low:.1f} %–{100 * high:.1f} %, Wilson] (n = 6)" in text
    assert "drawn, with its figure defined, in fewer than 95 % of the bootstrap samples" in text
    assert "an interval that misses the value or has no width" in text
