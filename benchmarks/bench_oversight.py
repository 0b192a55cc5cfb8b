"""The oversight page's eight plots: drawn on every request vs drawn once and then served from
the page's plot cache (serving/web/plot_cache.py), for the same figures.

Both sides build the plots as the page's route does (serving/web/routes/oversight.py), from
figures of the shape the reports give: eight regions, levels 1-5, the six reason codes, the
fairness groupings and both drift heads. The baseline empties the cache before each page, so
every plot is drawn (matplotlib, PNG); the candidate keeps it, as repeated views of unchanged
figures do.
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import BenchResult, rate
from serving.web.i18n import translator
from serving.web.plot_cache import PlotCache
from serving.web.routes import oversight

REGIONS = ["karaganda_region", "shymkent", "almaty_city", "astana", "turkistan_region",
           "east_kazakhstan_region", "mangystau_region", "north_kazakhstan_region"]  # fmt: skip
REASONS = ["income_evidence", "household_changed", "photos_not_representative",
           "photos_outdated", "model_error", "other"]  # fmt: skip


def _rates(keys: list[Any]) -> dict[Any, dict[str, float]]:
    return {
        k: {"override_rate": (i + 1) / (len(keys) + 2), "mean_decided_level": 1 + i % 5}
        for i, k in enumerate(keys)
    }


def _figures() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Override statistics, fairness and drift, as much as the plots read of them."""
    stats = {
        "by_level": _rates([1, 2, 3, 4, 5]),
        "by_region": _rates(REGIONS),
        "by_reason": {code: 3 * i + 1 for i, code in enumerate(REASONS)},
    }
    groupings = {"region": REGIONS, "settlement": ["urban", "rural"],
                 "head_gender": ["female", "male"]}  # fmt: skip
    fairness = {"groupings": {g: {"groups": _rates(keys)} for g, keys in groupings.items()}}
    rooms = ["kitchen", "bathroom", "bedroom", "living_room", "exterior"]
    heads = {
        "room": {"reference": {r: 0.2 for r in rooms},
                 "current": {r: 0.1 + 0.05 * i for i, r in enumerate(rooms)}, "psi": 0.1234},
        "condition": {"reference": {str(c): 0.2 for c in range(1, 6)},
                      "current": {str(c): 0.1 * c / 1.5 for c in range(1, 6)}, "psi": 0.3125},
    }  # fmt: skip
    return stats, fairness, {"heads": heads, "alert_psi": 0.25}


def _page(figures: tuple[dict[str, Any], dict[str, Any], dict[str, Any]], cache: PlotCache) -> int:
    """The page's plots of `figures`, as the route builds them with `cache`; returns how many."""
    t = translator("en")
    stats, fairness, drift = figures
    rows, psi = oversight._drift_rows(t, drift), oversight._psi_shown(t, drift)
    overrides = oversight._override_plots(t, stats, cache)
    groups = oversight._fairness_plots(t, fairness, cache)
    return len(overrides) + len(groups) + len(oversight._drift_plots(t, drift, rows, psi, cache))


def run() -> list[BenchResult]:
    figures, cache = _figures(), PlotCache(capacity=16)  # a page's eight plots fit

    def uncached() -> int:
        cache.clear()
        _page(figures, cache)
        return 1

    def cached() -> int:
        _page(figures, cache)
        return 1

    baseline = rate(uncached, min_seconds=2.0)
    cache.clear()
    plots = _page(figures, cache)  # the first view draws
    pictures = len(cache)
    candidate = rate(cached)
    return [
        BenchResult(
            name="oversight page plots, same figures viewed again",
            unit="pages/s",
            baseline="every plot drawn per request (matplotlib PNG)",
            baseline_rate=baseline,
            candidate="serving.web.plot_cache (drawn once per distinct input)",
            candidate_rate=candidate,
            goal="> 1x (a page's plots cost about 1 s drawn)",
            notes=(
                f"{plots} plots per page, {pictures} pictures (the override rate by region "
                "stands twice, under overrides and under fairness; 8 regions, 5 levels, 6 reasons, "
                "fairness by region, settlement and head of family, drift of room and condition), "
                "English; the "
                f"uncached page's plots take {1000 / baseline:,.0f} ms; the cached side still "
                "builds every label, text alternative and cache key. Figures gathered from the "
                "database are not part of either side."
            ),
        )
    ]
