"""`make bench`: runs every benchmark module and writes docs/benchmarks.md."""

from __future__ import annotations

import importlib
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import BenchResult

MODULES = [
    "benchmarks.bench_decode",
    "benchmarks.bench_synth",
    "benchmarks.bench_train",
    "benchmarks.bench_engine",
    "benchmarks.bench_hashing",
    "benchmarks.bench_service",
    "benchmarks.bench_gpu",
]
OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def _table(results: list[BenchResult]) -> list[str]:
    lines = [
        "| benchmark | baseline | rate | candidate | rate | ratio | goal |",
        "| --- | --- | ---: | --- | ---: | ---: | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.baseline} | {r.baseline_rate:,.1f} {r.unit} | {r.candidate} | "
            f"{r.candidate_rate:,.1f} {r.unit} | {r.ratio:.2f}x | {r.goal} |"
        )
    return lines


def main(argv: list[str]) -> None:
    only = set(argv)
    results: list[BenchResult] = []
    for name in MODULES:
        if only and name.rsplit(".", 1)[-1] not in only:
            continue
        print(f"running {name} ...", flush=True)
        results.extend(importlib.import_module(name).run())
    lines = [
        "# Benchmarks",
        "",
        "Made by `make bench` (`python -m benchmarks.run`); every figure is a ratio against a",
        "baseline measured in the same run on the same machine.",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python "
        f"{platform.python_version()}",
        "- GPU figures: not measured unless a section below says so.",
        "",
        *_table(results),
        "",
    ]
    notes = [f"- {r.name}: {r.notes}" for r in results if r.notes]
    if notes:
        lines += ["Notes:", "", *notes, ""]
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    if not only:
        OUTPUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
