"""`make bench`: runs every benchmark module and writes docs/benchmarks.md."""

from __future__ import annotations

import importlib
import json
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
    "benchmarks.bench_oversight",
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


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"


def main(argv: list[str]) -> None:
    only = set(argv)
    results: list[BenchResult] = []
    rows_by_module: dict[str, list[str]] = {}
    for name in MODULES:
        module = name.rsplit(".", 1)[-1]
        if only and module not in only:
            continue
        print(f"running {name} ...", flush=True)
        produced = importlib.import_module(name).run()
        rows_by_module[module] = [r.name for r in produced]
        results.extend(produced)
    lines = [
        "# Benchmarks",
        "",
        "Made by `make bench` (`python -m benchmarks.run`); every figure is a ratio against a",
        "baseline measured in the same run on the same machine.",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {_machine()}",
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
        OUTPUT.write_text("\n".join([*lines, _rows_line(rows_by_module), ""]))
    elif OUTPUT.exists():  # a partial run replaces its own rows and notes, keeps the rest
        merged = merge(OUTPUT.read_text(), results, sorted(only), rows_by_module=rows_by_module)
        OUTPUT.write_text(merged)
    print("\n".join(lines))


STAMP = "- updated in part ("
# Which rows each module wrote (hidden in the page): a rerun removes its module's earlier rows.
ROWS = "<!-- rows of each module: "


def _rows_line(rows_by_module: dict[str, list[str]]) -> str:
    return f"{ROWS}{json.dumps(rows_by_module, ensure_ascii=False)} -->"


def _rows_of(existing: str) -> dict[str, list[str]]:
    line = next((x for x in existing.splitlines() if x.startswith(ROWS)), None)
    return {} if line is None else json.loads(line.removeprefix(ROWS).removesuffix(" -->"))


def _older_stamp(line: str, modules: list[str]) -> list[str]:
    """An earlier partial run's stamp without the modules run again now (none if all were)."""
    named, _, when = line.removeprefix(STAMP).partition("): ")
    kept = [m for m in named.split(", ") if m not in modules]
    return [f"{STAMP}{', '.join(kept)}): {when}"] if kept else []


def merge(
    existing: str,
    results: list[BenchResult],
    modules: list[str],
    *,
    rows_by_module: dict[str, list[str]] | None = None,
) -> str:
    """`existing` docs/benchmarks.md with the rows and notes of `results` replaced or added, and
    the rows and notes the rerun `modules` wrote before and did not write now removed."""
    rows = dict(zip((r.name for r in results), _table(results)[2:], strict=True))
    notes = {r.name: f"- {r.name}: {r.notes}" for r in results if r.notes}
    known = _rows_of(existing)
    redone = set(rows) | {name for m in modules for name in known.get(m, [])}
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, on {_machine()}"
    stamps = [f"{STAMP}{', '.join(modules)}): {when}"]
    out: list[str] = []
    for line in existing.splitlines():
        name = line.split(" | ", 1)[0].removeprefix("| ") if line.startswith("| ") else None
        note = next((n for n in redone if line.startswith(f"- {n}: ")), None)
        if line.startswith(STAMP):
            stamps += _older_stamp(line, modules)
        elif line.startswith(ROWS):
            continue
        elif name in rows:
            out.append(rows.pop(name))
        elif note in notes:
            out.append(notes.pop(note))
        elif name not in redone and note is None:
            out.append(line)  # another module's, or not a row or a note
    at = next((i + 1 for i, line in enumerate(out) if line.startswith("- date: ")), 0)
    out[at:at] = stamps
    table_end = max(i for i, line in enumerate(out) if line.startswith("| ")) + 1
    out[table_end:table_end] = list(rows.values())
    notes_at = len(out) - 1 if out and not out[-1] else len(out)
    out[notes_at:notes_at] = list(notes.values())
    if rows_by_module is not None or known:
        out.append(_rows_line({**known, **(rows_by_module or {})}))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main(sys.argv[1:])
