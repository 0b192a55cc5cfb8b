"""Outcomes of 46 families in two large regions and a tiny one, their fairness figures by
region, and the tiny region's group, for the fairness tests of small groups."""

from __future__ import annotations

import pandas as pd

from welfare.fairness import fairness_table


def families_with_tiny_region(tiny: list[tuple[bool, str, int]]) -> pd.DataFrame:
    """46 families in two large regions, and a `tiny` region of (eligible, asp, level_pred)."""
    rows = [
        {
            "asp_eligible": i % 3 != 0,
            "asp": "eligible" if i % 4 else "needs_review",
            "level": 3,
            "level_pred": 3 if i % 5 else 2,
            "region": "north" if i % 2 else "south",
        }
        for i in range(46)
    ]
    rows += [
        {"asp_eligible": e, "asp": asp, "level": 3, "level_pred": p, "region": "tiny"}
        for e, asp, p in tiny
    ]
    return pd.DataFrame(rows)


# Two eligible families, one offered `eligible`, one sent to review: FNR 1/2 on 2 families.
HALF = [(True, "eligible", 3), (True, "needs_review", 2)]


def fairness_figures(outcomes: pd.DataFrame, seed: int) -> dict:
    figures = fairness_table(outcomes, groupings=["region"], n_boot=2, seed=seed, min_families=1)
    return {f.metric: f for f in figures}


def tiny_group(figure):
    (tiny,) = [g for g in figure.groups if g.group == "tiny"]
    return tiny
