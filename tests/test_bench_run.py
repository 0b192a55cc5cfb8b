"""A partial `make bench` run replaces its own rows and notes in docs/benchmarks.md only."""

from __future__ import annotations

from benchmarks.common import BenchResult
from benchmarks.run import _table, merge


def _result(name: str, rate: float, notes: str = "") -> BenchResult:
    return BenchResult(
        name=name, unit="img/s", baseline="base", baseline_rate=1.0, candidate="cand",
        candidate_rate=rate, goal="> 1x", notes=notes,
    )  # fmt: skip


def test_partial_run_replaces_only_its_rows_and_notes():
    old = [_result("alpha", 2.0, "alpha note"), _result("beta", 3.0, "beta note")]
    doc = "\n".join(
        ["# Benchmarks", "", "- date: 2026-01-01 00:00 UTC", "", *_table(old), "", "Notes:", "",
         "- alpha: alpha note", "- beta: beta note", ""]
    )  # fmt: skip
    merged = merge(doc, [_result("beta", 5.0, "new beta"), _result("gamma", 7.0, "g")], ["x"])
    lines = merged.splitlines()
    assert "| alpha | base | 1.0 img/s | cand | 2.0 img/s | 2.00x | > 1x |" in lines
    assert "| beta | base | 1.0 img/s | cand | 5.0 img/s | 5.00x | > 1x |" in lines
    assert lines.index("| beta | base | 1.0 img/s | cand | 5.0 img/s | 5.00x | > 1x |") < (
        lines.index("| gamma | base | 1.0 img/s | cand | 7.0 img/s | 7.00x | > 1x |")
    )
    assert "- beta: new beta" in lines and "- beta: beta note" not in lines
    assert "- alpha: alpha note" in lines and "- gamma: g" in lines
    assert lines[3].startswith("- updated in part (x): ")
    # Each module keeps the stamp of its latest run: x's stays beside y's, a rerun replaces it.
    again = merge(merged, [_result("alpha", 4.0)], ["y"])
    stamps = [line for line in again.splitlines() if line.startswith("- updated in part")]
    assert [s.split(")")[0] for s in stamps] == ["- updated in part (y", "- updated in part (x"]
    rerun = merge(again, [_result("alpha", 4.0)], ["x", "y"])
    assert sum(line.startswith("- updated in part") for line in rerun.splitlines()) == 1
