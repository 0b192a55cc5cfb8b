"""The fairness intervals live in welfare.fairness_intervals, apart from the figures.

welfare/fairness.py had grown past the 400-line budget; its interval helpers moved out, every
name others import from welfare.fairness still importable there and the same object, the
intervals' values unchanged, and the new module light enough for the command line's help.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from welfare import fairness, fairness_intervals, paired_bootstrap

ROOT = Path(__file__).resolve().parents[2]
BUDGET = 400  # lines a module may hold (STYLE.md)
# What the report, the configuration, paired_bootstrap and tests import from welfare.fairness.
KEPT = [
    "CI_QUANTILES",
    "BOOTSTRAP",
    "WILSON",
    "WHOLE_RANGE",
    "CLOPPER_PEARSON",
    "configured_intervals",
    "least_bootstrap_draws",
    "wilson_interval",
    "newcombe_interval",
    "group_interval",
]


@pytest.mark.parametrize("module", ["fairness", "fairness_intervals"])
def test_the_fairness_modules_keep_to_the_line_budget(module):
    lines = (ROOT / "welfare" / f"{module}.py").read_text("utf-8").splitlines()
    assert len(lines) <= BUDGET, f"welfare/{module}.py: {len(lines)} lines"


@pytest.mark.parametrize("name", KEPT)
def test_names_imported_from_welfare_fairness_stay_the_intervals_own(name):
    assert getattr(fairness, name) is getattr(fairness_intervals, name)


def test_paired_bootstrap_uses_the_same_intervals():
    assert paired_bootstrap.wilson_interval is fairness_intervals.wilson_interval
    assert paired_bootstrap.exact_when_all_agree is fairness_intervals.exact_when_all_agree


def test_the_intervals_keep_their_values():
    """Values worked by hand (Newcombe 1998's example for the difference)."""
    low, high = fairness_intervals.wilson_interval(3, 10)
    assert (low, high) == pytest.approx((0.1078, 0.6032), abs=1e-4)
    gap = fairness_intervals.newcombe_interval((56, 70), (48, 80))
    assert gap == pytest.approx((0.0524, 0.3339), abs=1e-4)
    assert fairness_intervals.exact_when_all_agree(0.0, 10) == pytest.approx((0.0, 0.3085), 1e-3)
    assert fairness_intervals.exact_when_all_agree(1.0, 10) == pytest.approx((0.6915, 1.0), 1e-3)
    assert fairness_intervals.least_bootstrap_draws() == 39
    interval = fairness_intervals.group_interval
    assert interval(0.4, 1, (0.4, 0.4), drawn_share=1.0) == ((0.0, 1.0), "whole-range")
    trusted = interval(0.5, 10, (0.3, 0.7), drawn_share=0.96, min_drawn_share=0.95)
    assert trusted == ((0.3, 0.7), "bootstrap")
    rarely_drawn = interval(0.5, 10, (0.3, 0.7), drawn_share=0.9, min_drawn_share=0.95)
    assert rarely_drawn == (fairness_intervals.wilson_interval(5, 10), "wilson")


def test_the_intervals_module_imports_nothing_heavy():
    """`shanyraq welfare evaluate --help` reads the resamples' floor from it."""
    probe = (
        "import sys, welfare.fairness_intervals; "
        "print(','.join(m for m in ('numpy', 'pandas', 'fairlearn') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == ""
