"""Paired-bootstrap intervals that claimed certainty: a share on which every family agrees, and a
difference no family makes, never vary under a bootstrap of families (0.0 % [0.0 %–0.0 %],
+0.0 [+0.0, +0.0]); they get the exact and Newcombe's paired intervals, named in the report."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from welfare.paired_bootstrap import newcombe_paired_interval, paired_bootstrap
from welfare.real_report import _real_tables, real_score_lines, real_verdict

LEVELS = [1, 2, 3, 4, 5, 6]
Z2 = NormalDist().inv_cdf(0.975) ** 2


def _frame(level, pred, eligible, asp) -> pd.DataFrame:
    n = len(level)
    return pd.DataFrame(
        {
            "family_id": [f"F{i:03d}" for i in range(n)],
            "level": level,
            "level_pred": pred,
            "asp_eligible": eligible,
            "asp": asp,
        }
    )


@pytest.fixture
def arms() -> dict[str, pd.DataFrame]:
    """Two arms of 80 families: no eligible family excluded in either, every level right in
    `a`, a quarter wrong in `b`; both send the same families to review."""
    rng = np.random.default_rng(5)
    level = rng.integers(1, 7, 80)
    eligible = rng.random(80) < 0.5
    asp = np.where(eligible, "eligible", "not_eligible")
    asp[rng.random(80) < 0.2] = "needs_review"
    wrong = np.where(rng.random(80) < 0.25, level % 6 + 1, level)
    return {"a": _frame(level, level, eligible, asp), "b": _frame(level, wrong, eligible, asp)}


def _bootstrap(frames):
    return paired_bootstrap(frames, pairs=[("a", "b")], levels=LEVELS, n_boot=200, seed=0)


def test_a_share_no_family_has_gets_the_exact_interval_not_zero_width(arms):
    result = _bootstrap(arms)
    n_eligible = result["n_eligible"]
    for arm in ("a", "b"):
        exclusion = result["arms"][arm]["exclusion_error"]
        assert exclusion["value"] == 0.0
        assert exclusion["ci_low"] == 0.0
        assert exclusion["ci_high"] == pytest.approx(1 - 0.025 ** (1 / n_eligible))
        assert exclusion["ci_method"] == "clopper-pearson"


def test_a_share_every_family_has_gets_the_exact_lower_bound(arms):
    accuracy = _bootstrap(arms)["arms"]["a"]["accuracy"]
    assert accuracy["value"] == 1.0
    assert (accuracy["ci_low"], accuracy["ci_high"]) == pytest.approx((0.025 ** (1 / 80), 1.0))
    assert accuracy["ci_method"] == "clopper-pearson"


def test_a_share_families_differ_on_keeps_the_bootstrap(arms):
    accuracy = _bootstrap(arms)["arms"]["b"]["accuracy"]
    assert accuracy["ci_low"] < accuracy["value"] < accuracy["ci_high"] < 1
    assert accuracy["ci_method"] == "bootstrap"


def test_a_difference_no_family_makes_gets_newcombes_paired_interval(arms):
    result = _bootstrap(arms)
    by_metric = {d["metric"]: d for d in result["differences"]}
    exclusion = by_metric["exclusion_error"]
    half = Z2 / (result["n_eligible"] + Z2)  # Wilson's upper bound of 0 events, either side
    assert exclusion["value"] == 0.0
    assert (exclusion["ci_low"], exclusion["ci_high"]) == pytest.approx((-half, half))
    assert exclusion["ci_method"] == "newcombe-paired"
    review = by_metric["needs_review_rate"]  # both arms send the same families: events agree
    sent = int((arms["a"]["asp"] == "needs_review").sum())
    expected = newcombe_paired_interval(sent, 0, 0, 80 - sent)
    assert (review["ci_low"], review["ci_high"]) == pytest.approx(expected)
    assert review["ci_low"] < 0 < review["ci_high"]
    assert review["ci_method"] == "newcombe-paired"


def test_a_difference_families_make_keeps_the_paired_bootstrap(arms):
    by_metric = {d["metric"]: d for d in _bootstrap(arms)["differences"]}
    for metric in ("accuracy", "qwk"):
        assert by_metric[metric]["ci_low"] <= by_metric[metric]["value"]
        assert by_metric[metric]["ci_low"] > 0  # `a` is right wherever `b` is
        assert by_metric[metric]["ci_method"] == "bootstrap"


def test_newcombe_paired_interval_matches_the_literature():
    # Cavo et al. 2012 (a=59, b=6, c=16, d=80): Fagerland, Lydersen & Laake, Stat Med 2014
    # 33:2850 and "Statistical analysis of contingency tables" (2017) ch. 8, Newcombe's
    # square-and-add interval -0.1186 to -0.0046.
    assert newcombe_paired_interval(59, 6, 16, 80) == pytest.approx((-0.1186, -0.0046), abs=5e-5)
    # No event in either arm: phi is 0, each side is the Wilson bound of 0 of n.
    assert newcombe_paired_interval(0, 0, 0, 50) == pytest.approx((-Z2 / (50 + Z2), Z2 / (50 + Z2)))
    low, high = newcombe_paired_interval(40, 0, 0, 10)  # all agree, events in both
    assert low < 0 < high and high == pytest.approx(-low)


FUSED, TABULAR, SIMULATED = "a | engine", "b | engine", "a | simulated"


def _study(frames: dict[str, pd.DataFrame]) -> dict:
    """The study's record of these arms (the fused model `a`, tabular-only `b`)."""
    result = paired_bootstrap(
        frames, pairs=[(FUSED, TABULAR), (FUSED, SIMULATED)], levels=LEVELS, n_boot=200, seed=0
    )
    return {
        "fused": "a",
        "tabular": "b",
        "overall": result,
        "hidden_income": None,
        "n_hidden_income": 0,
        "macro_f1": dict.fromkeys(result["arms"], 0.5),
    }


def _agreeing(arms) -> dict:
    """`a` and `b` exclude no eligible family and send the same families to review."""
    return _study({FUSED: arms["a"], TABULAR: arms["b"], SIMULATED: arms["a"].copy()})


def test_the_report_marks_intervals_that_are_not_the_bootstraps(arms):
    real = _agreeing(arms)
    table = "\n".join(_real_tables(real))
    n_eligible = real["overall"]["n_eligible"]
    high = f"{100 * (1 - 0.025 ** (1 / n_eligible)):.1f} %"
    assert f"| 0.0 % [0.0 %–{high}]† |" in table
    assert "0.0 % [0.0 %–0.0 %]" not in table
    half = f"{100 * Z2 / (n_eligible + Z2):.1f}"
    assert f"| exclusion_error | +0.0 [-{half}, +{half}]‡ |" in table
    assert "+0.0 [+0.0, +0.0]" not in table
    fused_minus_tabular = next(line for line in table.splitlines() if "| accuracy |" in line)
    assert "‡" not in fused_minus_tabular  # families differ: the bootstrap's, unmarked


def _section(real: dict, welfare_config) -> str:
    graded = {"accuracy": 0.5, "qwk": 0.5, "n": 1}
    photos = {
        "n_photos": 1,
        "room_accuracy": 1.0,
        "condition_on_usable_photos": {"engine": graded, "simulated": graded},
        "abstained": {"engine": {}, "simulated": {}},
        "gate_by_planned": {},
        "reused_flagged": 0,
    }
    real = {
        **real,
        "command": "test",
        "n_families": 80,
        "data": {"n": 80, "seed": 0},
        "size": 64,
        "vision_model": "m",
        "reuse": "full hash",
        "n_boot": 200,
        "cache": {"photos": 1, "scored": 0},
        "assessments": {"agree_with_batch": 80, "n": 80},
        "photos": photos,
        "condition_vs_level": {"engine": 0.5, "simulated": 0.5},
    }
    return "\n".join(real_score_lines(real, targets=welfare_config.targets))


def test_the_section_names_the_methods_of_the_marked_intervals(arms, welfare_config):
    text = _section(_agreeing(arms), welfare_config)
    intro = next(line for line in text.splitlines() if "resamples" in line)
    assert "except where marked: † the exact (Clopper-Pearson) interval" in intro
    assert "‡ Newcombe's hybrid score interval for paired proportions" in intro


def test_a_section_of_bootstrap_intervals_only_names_no_other_method(welfare_config):
    rng = np.random.default_rng(7)
    level, eligible = rng.integers(1, 7, 80), rng.random(80) < 0.5
    frames = {
        arm: _frame(
            level,
            np.where(rng.random(80) < 0.3, level % 6 + 1, level),
            eligible,
            rng.choice(["eligible", "not_eligible", "needs_review"], 80),
        )
        for arm in (FUSED, TABULAR, SIMULATED)
    }
    text = _section(_study(frames), welfare_config)
    assert "resamples" in text
    assert "except where marked" not in text and "†" not in text and "‡" not in text


def test_an_older_file_without_methods_renders_unmarked(arms, welfare_config):
    real = _agreeing(arms)
    for figure in [*real["overall"]["differences"], *real["overall"]["arms"][FUSED].values()]:
        figure.pop("ci_method", None)
        figure["ci_low"] = figure["ci_high"] = figure["value"]  # as older files stored them
    text = " ".join(real_verdict(real, targets=welfare_config.targets))
    assert "†" not in text and "‡" not in text
