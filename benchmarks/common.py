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


def rate(work: Callable[[], int], *, min_seconds: float = 1.0, repeats: int = 3) -> float:
    """Items per second: the best of `repeats` runs of `work` (which returns items done)."""
    best = 0.0
    for _ in range(repeats):
        done, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < min_seconds or done == 0:
            done += work()
        best = max(best, done / elapsed)
    return best
