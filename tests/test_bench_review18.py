"""Benchmark honesty (review 18): no earlier run's rows beside a rerun, spreads beside ratios."""

from __future__ import annotations

import sys
from types import ModuleType, SimpleNamespace

import numpy as np
import torch

from benchmarks.common import BenchResult


def _result(name: str, rate: float, notes: str = "") -> BenchResult:
    return BenchResult(
        name=name, unit="img/s", baseline="base", baseline_rate=1.0, candidate="cand",
        candidate_rate=rate, notes=notes,
    )  # fmt: skip


def _fake_module(monkeypatch, name: str, results: list[BenchResult]) -> None:
    module = ModuleType(f"benchmarks.{name}")
    module.run = lambda: list(results)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, f"benchmarks.{name}", module)


def test_partial_rerun_leaves_no_row_or_note_of_the_modules_earlier_run(tmp_path, monkeypatch):
    from benchmarks import run

    output = tmp_path / "benchmarks.md"
    monkeypatch.setattr(run, "OUTPUT", output)
    monkeypatch.setattr(run, "MODULES", ["benchmarks.fake_cpu", "benchmarks.fake_gpu"])
    _fake_module(monkeypatch, "fake_cpu", [_result("decode", 2.0, "decode note")])
    cpu_only = _result("re-score (cpu)", 1.5, "GPU rows not measured: no GPU")
    _fake_module(monkeypatch, "fake_gpu", [cpu_only, _result("scoring", 3.0, "old")])
    run.main([])

    # Rerun where a GPU is: the module's rows are named otherwise, its notes differ.
    gpu_rows = [_result("re-score (cuda)", 9.0, "GPU figures"), _result("scoring", 4.0)]
    _fake_module(monkeypatch, "fake_gpu", gpu_rows)
    run.main(["fake_gpu"])
    lines = output.read_text().splitlines()

    assert not any("re-score (cpu)" in line for line in lines)  # that run's row and note
    assert not any("no GPU" in line for line in lines)
    assert "- scoring: old" not in lines  # the row has no note now: the old one is not its
    assert "- re-score (cuda): GPU figures" in lines and "- decode: decode note" in lines
    assert sum(line.startswith("| scoring |") for line in lines) == 1
    assert any(line.startswith("| decode |") for line in lines)  # other modules' rows stay

    # A second rerun still knows which rows are the module's.
    _fake_module(monkeypatch, "fake_gpu", [_result("scoring", 5.0)])
    run.main(["fake_gpu"])
    again = output.read_text()
    assert "re-score (cuda)" not in again and "| decode |" in again


def test_partial_stamp_names_the_machine_it_ran_on(tmp_path, monkeypatch):
    from benchmarks import run

    output = tmp_path / "benchmarks.md"
    monkeypatch.setattr(run, "OUTPUT", output)
    monkeypatch.setattr(run, "MODULES", ["benchmarks.fake_cpu"])
    _fake_module(monkeypatch, "fake_cpu", [_result("decode", 2.0)])
    run.main([])
    monkeypatch.setattr(run.os, "cpu_count", lambda: 16)
    run.main(["fake_cpu"])
    (stamp,) = (x for x in output.read_text().splitlines() if x.startswith(run.STAMP))
    assert "16 CPU cores" in stamp  # the full run's machine line says this machine's count
    assert "16 CPU cores" not in output.read_text().split(run.STAMP)[0]


def test_rate_is_the_best_of_the_runs_it_reports(monkeypatch):
    from benchmarks import common

    clock = iter(np.arange(0.0, 100.0, 0.25))  # each perf_counter call: 0.25 s later
    monkeypatch.setattr(common.time, "perf_counter", lambda: float(next(clock)))
    per_run = common.rates(lambda: 4, min_seconds=1.0, repeats=3)
    assert len(per_run) == 3 and all(r > 0 for r in per_run)
    clock = iter(np.arange(0.0, 100.0, 0.25))
    assert common.rate(lambda: 4, min_seconds=1.0, repeats=3) == max(per_run)
    assert common.spread([3.0, 1.25, 2.0]) == "1.2-3.0"


def test_torch_vs_onnx_gives_both_sides_one_batch_and_reports_the_spread(monkeypatch, tmp_path):
    import vision.model
    from benchmarks.bench_engine import _torch_vs_onnx
    from vision.engine import get_engine_config

    seen: list[tuple[str, int]] = []

    class Eager(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(("torch", x.data_ptr()))
            return x.sum()

    monkeypatch.setattr(vision.model, "load_model", lambda folder: (Eager(), None))
    batch = np.zeros((4, 3, 8, 8), dtype=np.float32)

    def run_logits(b: np.ndarray) -> dict[str, np.ndarray]:
        seen.append(("onnx", b.ctypes.data))
        return {}

    engine = SimpleNamespace(
        run_logits=run_logits, provider="cpu", config=get_engine_config().alone()
    )
    result = _torch_vs_onnx(engine, tmp_path, batch, min_seconds=0.0)  # type: ignore[arg-type]

    assert {side for side, _ in seen} == {"torch", "onnx"}
    # The very same batch on both sides.
    assert {pointer for _, pointer in seen} == {batch.ctypes.data}
    assert "best of 3 runs per side" in result.notes
    spread = result.notes.split("ratio ")[1].split("x")[0]
    low, high = (float(x) for x in spread.split("-"))
    assert low <= round(result.ratio, 2) <= high
