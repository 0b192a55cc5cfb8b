"""What every benchmark returns, and how a rate is measured."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BenchResult:
    name: str
    unit: str  # e.g. "photos/s"
    baseline: str  # what the candidate is compared with
    baseline_rate: float
    candidate: str
    candidate_rate: float
    goal: str = ""
    notes: str = ""

    @property
    def ratio(self) -> float:
        return self.candidate_rate / self.baseline_rate if self.baseline_rate else float("nan")


def rates(work: Callable[[], int], *, min_seconds: float = 1.0, repeats: int = 3) -> list[float]:
    """Items per second in each of `repeats` runs of `work` (which returns items done), each run
    at least `min_seconds` long: their spread says how far a ratio of best rates can be trusted."""
    out = []
    for _ in range(repeats):
        done, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < min_seconds or done == 0:
            done += work()
        out.append(done / elapsed)
    return out


def rate(work: Callable[[], int], *, min_seconds: float = 1.0, repeats: int = 3) -> float:
    """Items per second: the best of `repeats` runs of `work` (which returns items done)."""
    return max(rates(work, min_seconds=min_seconds, repeats=repeats))


def spread(values: list[float]) -> str:
    """`values`' range, lowest first, as rates are printed (one decimal)."""
    return f"{min(values):,.1f}-{max(values):,.1f}"
