"""A GPU benchmark run's record (benchmarks.bench_gpu): its rows, budget, skips and files.

`Run` holds the rows measured so far, the time left and what was skipped (and why); `_save`
rewrites the JSON record after each row, so a run cut short keeps what it measured; `_page`
gives docs/benchmarks.md with this benchmark's rows replaced. Apart from the measurements
because these only keep and write what the rows give.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import BenchResult

RESULTS_FILE, PAGE_FILE = "bench_gpu.json", "benchmarks.md"


@dataclass
class Run:
    """The rows measured so far, the time left, and the measurements skipped (and why)."""

    deadline: float  # time.monotonic()
    save: Callable[[Run], None] | None = None
    results: list[BenchResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def allows(self, what: str, *, needs_s: float = 0.0) -> bool:
        left = self.deadline - time.monotonic()
        if left > needs_s:
            return True
        self.skipped.append(f"{what}: not started, {max(left, 0):.0f} s of the budget left")
        return False

    def add(self, result: BenchResult) -> None:
        self.results.append(result)
        if self.save is not None:
            self.save(self)


def _save(path: Path, command: str, started: float, run: Run, *, done: bool = False) -> None:
    from benchmarks.run import _machine
    from shanyraq.atomic import atomic_file
    from vision.trt_cache import gpu_name

    record = {
        "command": command, "machine": _machine(), "gpu": gpu_name(),
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "finished": done,
        "elapsed_s": round(time.monotonic() - started, 1), "skipped": run.skipped,
        "results": [{**asdict(r), "ratio": r.ratio} for r in run.results],
    }  # fmt: skip
    with atomic_file(path) as temporary:
        temporary.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def _page(results: list[BenchResult]) -> str:
    """docs/benchmarks.md with bench_gpu's rows replaced, as benchmarks.run writes it."""
    from benchmarks import run as page

    if not page.OUTPUT.exists():
        return "\n".join(page._table(results)) + "\n"
    rows = {"bench_gpu": [r.name for r in results]}
    return page.merge(page.OUTPUT.read_text(), results, ["bench_gpu"], rows_by_module=rows)
