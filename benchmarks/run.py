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
    elif OUTPUT.exists():  # a partial run replaces its own rows and notes, keeps the rest
        OUTPUT.write_text(merge(OUTPUT.read_text(), results, sorted(only)))
    print("\n".join(lines))


STAMP = "- updated in part ("


def _older_stamp(line: str, modules: list[str]) -> list[str]:
    """An earlier partial run's stamp without the modules run again now (none if all were)."""
    named, _, when = line.removeprefix(STAMP).partition("): ")
    kept = [m for m in named.split(", ") if m not in modules]
    return [f"{STAMP}{', '.join(kept)}): {when}"] if kept else []


def merge(existing: str, results: list[BenchResult], modules: list[str]) -> str:
    """`existing` docs/benchmarks.md with the rows and notes of `results` replaced or added."""
    rows = dict(zip((r.name for r in results), _table(results)[2:], strict=True))
    notes = {r.name: f"- {r.name}: {r.notes}" for r in results if r.notes}
    stamps = [f"- updated in part ({', '.join(modules)}): {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"]
    out: list[str] = []
    for line in existing.splitlines():
        name = line.split(" | ", 1)[0].removeprefix("| ") if line.startswith("| ") else None
        note = next((n for n in notes if line.startswith(f"- {n}: ")), None)
        if line.startswith(STAMP):
            stamps += _older_stamp(line, modules)
            continue
        if name in rows:
            out.append(rows.pop(name))
        elif note is not None:
            out.append(notes.pop(note))
        else:
            out.append(line)
    at = next((i + 1 for i, line in enumerate(out) if line.startswith("- date: ")), 0)
    out[at:at] = stamps
    table_end = max(i for i, line in enumerate(out) if line.startswith("| ")) + 1
    out[table_end:table_end] = list(rows.values())
    notes_at = len(out) - 1 if out and not out[-1] else len(out)
    out[notes_at:notes_at] = list(notes.values())
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main(sys.argv[1:])
