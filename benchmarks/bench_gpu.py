r"""Bulk re-scoring from JPEG bytes: the GPU path (issue 5's GPU checks) and the pipelined CPU path.

- Any machine: `vision.bulk.score_batches` on the CPU path (ONNX Runtime's CPU provider alone,
  as `rescore --device cpu`) against decoding and scoring one photo at a time.
- Where ONNX Runtime can use the GPU: TensorRT (fp16 as configured) and CUDA (model.onnx,
  fp32: the export writes no fp16 copy), each where usable: model-only img/s at batch 1, 32
  and 256 (input on the GPU, IO binding) against ONNX Runtime on the CPU. Then, on the best of
  them, end-to-end from JPEG bytes (`vision.gpu`, nvJPEG) at batch 32 and 256, 1.9 and 4 MP,
  against the same session's model-only rate: the ratio is the fraction of it kept. A photo
  not scored is never counted; the notes say how many went to vision.io's decode.
TensorRT builds one engine, for batches 1 to 256, as its session opens (each batch's first
call is timed apart, in the notes). No measurement starts after `--budget-s` (default 420 s),
nor TensorRT with under TRT_RESERVE_S left; the output lists what was skipped.

How to run on a lent GPU (the `run` tool's nvidia-h200: python3 3.12 with PyTorch,
torchvision, timm, onnx, OpenCV and Pillow, but no pydantic; its onnxruntime is the CPU build):
1. Here: `echo /.whl/ >> .git/info/exclude`, then this venv's versions of what is missing:
       .venv/bin/pip freeze | grep -iE \
         '^(pydantic|annotated.types|typing.(inspection|extensions)|python.dotenv)' >/tmp/r.txt
       .venv/bin/python -m pip download --no-deps --only-binary=:all: -d .whl \
         --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
         --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -r /tmp/r.txt
2. One `run` call, carry [".whl"], timeout_s 600:
       python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
         --target /tmp/site .whl/*.whl &&
       SP=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') &&
       export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 \
         LD_LIBRARY_PATH=$SP/nvidia/cu13/lib:$SP/nvidia/cudnn/lib:$LD_LIBRARY_PATH &&
       python3 -m benchmarks.bench_gpu --out $OUT
   `--require-gpu` makes it refuse at once (exit 2, saying why) where ONNX Runtime cannot
   use the GPU, rather than measure the CPU row alone.
3. Results: $OUT/bench_gpu.json (rewritten after each row: a run cut short keeps what it
   measured; also the command, machine, GPU, what was skipped, seconds) and $OUT/benchmarks.md
   (docs/benchmarks.md with this module's rows replaced, as `python -m benchmarks.run
   bench_gpu` writes it): bring its rows into docs/ here.
Time (estimated, not yet timed there): about 1 min without ONNX Runtime on the GPU (the CPU
row), 2-4 with CUDA, plus TensorRT's engine build; machine start-up and transfers on top. The model
rows need onnxruntime-gpu in /tmp/site, whose wheel (255 MB) is over the 64 MiB one call
carries: split over calls made while the machine stays warm (untried). TensorRT's libraries
(libnvinfer) are not on that machine: its rows are skipped there, with that reason.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.bench_engine import VARIANT, _export, _jpegs
from benchmarks.bench_gpu_record import PAGE_FILE, RESULTS_FILE, Run, _page, _save
from benchmarks.bench_gpu_scorers import (
    GPU_PROVIDERS,
    MAX_PIXELS,
    _cpu_path,
    _open_gpu_scorer,
    _prepare_counted,
    _score_all,
    _sync,
    gpu_config,
)
from benchmarks.common import BenchResult, rate

if TYPE_CHECKING:
    from vision.bulk import CpuBytesScorer, PhotoBytes
    from vision.gpu import TensorBytesScorer

CPU_BATCH = 32
MODEL_BATCHES = (1, 32, 256)  # issue 5: img/s at batch 1, 32 and 256
E2E_BATCHES = (32, 256)  # the largest is also the engine profile's largest (trt_cache)
MIN_SECONDS = 1.0  # each rate: the best of 3 runs, each at least this long
BUDGET_S = 420.0  # a 600 s call keeps room for imports, the export and a cut-short measurement
TRT_RESERVE_S = 150.0  # an engine build cannot be cut short once its session opens


def _items(jpegs: list[bytes], n: int | None = None) -> list[PhotoBytes]:
    """One photo per JPEG, or `n` photos, the JPEGs repeated."""
    from vision.bulk import PhotoBytes

    n = len(jpegs) if n is None else n
    return [PhotoBytes(i, f"{i:064x}", jpegs[i % len(jpegs)]) for i in range(n)]


def _rate(fn: Callable[[], object], n: int, *, min_seconds: float | None = None) -> float:
    """Items per second of `fn`, which does `n` items a call (benchmarks.common.rate)."""

    def work() -> int:
        fn()
        return n

    return rate(work, min_seconds=MIN_SECONDS if min_seconds is None else min_seconds)


def _cpu_rows(folder: Path, jpegs: list[bytes]) -> BenchResult:
    from vision.bulk import score_batches
    from vision.io import decode_image

    scorer = _cpu_path(folder)
    engine, side = scorer.engine, scorer.decode_short_side
    items = _items(jpegs)
    batches = [items[i : i + CPU_BATCH] for i in range(0, len(items), CPU_BATCH)]

    def naive() -> None:
        for item in items:
            pixels = decode_image(item.data, max_pixels=MAX_PIXELS, target_size=side).pixels
            engine.score([pixels], sha256s=[item.sha256])

    return BenchResult(
        name=f"re-score 1.9 MP JPEGs on the CPU path ({engine.provider})",
        unit="photos/s",
        baseline="decode + score one photo at a time",
        baseline_rate=_rate(naive, len(items), min_seconds=2 * MIN_SECONDS),
        candidate=f"vision.bulk, batch {CPU_BATCH}, threaded decode overlapping inference",
        candidate_rate=_rate(
            lambda: list(score_batches(scorer, batches)), len(items), min_seconds=2 * MIN_SECONDS
        ),
        goal="> 1x; on a GPU the goal is >= 5,000 photos/s end-to-end (1-2 MP)",
    )


def _model_rows(
    scorer: TensorBytesScorer, provider: str, cpu: CpuBytesScorer, items: list[PhotoBytes],
    run: Run, *, cpu_rates: dict[int, float], opened_s: float,
) -> None:  # fmt: skip
    from vision.trt_cache import gpu_name

    precision = "fp16" if provider == "tensorrt" and scorer.config.runtime.fp16 else "fp32"
    for n in MODEL_BATCHES:
        if not run.allows(f"{provider} model only, batch {n}"):
            return
        prepared = scorer.prepare(items[:n])
        started = time.monotonic()
        scorer.run_prepared(prepared)  # an engine still to build is built here
        _sync(scorer)
        first_s = time.monotonic() - started
        pixels = prepared.pixels.float().cpu().numpy()
        if n not in cpu_rates:
            cpu_rates[n] = _rate(partial(cpu.engine.run_logits, pixels), n)
        run.add(BenchResult(
            name=f"GPU model only, batch {n}, {VARIANT} ({provider}, {precision})",
            unit="img/s", baseline=f"ONNX Runtime on the CPU, batch {n}",
            baseline_rate=cpu_rates[n],
            candidate=f"ONNX Runtime {provider} ({precision}), IO binding, input on the GPU",
            candidate_rate=_rate(partial(scorer.run_prepared, prepared), n),
            notes=f"{gpu_name(scorer.config.runtime.device_id)}; session opened in "
            f"{opened_s:.1f} s, first call at this batch {first_s:.1f} s (not timed)",
        ))  # fmt: skip


def _e2e_rows(
    scorer: TensorBytesScorer, provider: str, cpu: CpuBytesScorer,
    jpegs_by_size: dict[str, list[bytes]], run: Run,
) -> None:  # fmt: skip
    for label, jpegs in jpegs_by_size.items():
        for n in E2E_BATCHES:
            what = f"{provider} end-to-end, {label}, batch {n}"
            if not run.allows(what):
                return
            items = _items(jpegs, n)
            prepared, fallbacks = _prepare_counted(scorer, items)
            failed = [s for s in scorer.infer(prepared) if s.score is None]
            if failed:  # a rate of photos that were not scored would mislead
                run.skipped.append(f"{what}: {len(failed)} of {n} not scored: {failed[0].error}")
                continue
            # Four batches in a row, so decoding overlaps inference as in a real run.
            e2e = _rate(partial(_score_all, scorer, [items] * 4), 4 * n)
            model = _rate(partial(scorer.run_prepared, prepared), n)
            on_cpu = _rate(partial(_score_all, cpu, [items]), n)
            run.add(BenchResult(
                name=f"GPU re-score {label} JPEGs, batch {n} ({provider})",
                unit="photos/s", baseline="model only (same session, input ready on GPU)",
                baseline_rate=model, candidate="end-to-end from JPEG bytes (nvJPEG)",
                candidate_rate=e2e, goal=">= 0.5x model-only; >= 5,000 photos/s for 1-2 MP",
                notes=f"the ratio is the fraction of the model-only rate kept; CPU path "
                f"(rescore --device cpu: vision.io at {cpu.decode_short_side} px, ONNX Runtime "
                f"CPU): {on_cpu:,.0f} photos/s; {fallbacks} of {n} photos decoded by vision.io",
            ))  # fmt: skip


def _gpu_rows(
    folder: Path, jpegs_by_size: dict[str, list[bytes]], run: Run, *, trt_cache: Path
) -> None:
    from vision.engine import get_engine_config
    from vision.providers import ORT_NAMES, probe

    reasons, cpu = probe(), _cpu_path(folder)
    items = _items(jpegs_by_size["1.9 MP"], max(MODEL_BATCHES))
    cpu_rates: dict[int, float] = {}
    opened: list[tuple[str, TensorBytesScorer]] = []
    for provider in GPU_PROVIDERS:
        if reasons.get(provider):
            run.skipped.append(f"{provider} rows: {reasons[provider]}")
            continue
        reserve = TRT_RESERVE_S if provider == "tensorrt" else 0.0
        if not run.allows(f"{provider} rows", needs_s=reserve):
            continue
        started = time.monotonic()
        try:  # one provider failing to start or run leaves the other's rows
            scorer = _open_gpu_scorer(folder, gpu_config(get_engine_config(), provider, trt_cache))
            opened_s = time.monotonic() - started
            if scorer.provider != ORT_NAMES[provider]:
                run.skipped.append(f"{provider} rows: its session runs on {scorer.provider}")
                continue
            _model_rows(scorer, provider, cpu, items, run, cpu_rates=cpu_rates, opened_s=opened_s)
        except Exception as error:
            traceback.print_exc()
            run.skipped.append(f"{provider} rows: {type(error).__name__}: {error}")
            continue
        opened.append((provider, scorer))
    if opened:
        try:
            _e2e_rows(opened[0][1], opened[0][0], cpu, jpegs_by_size, run)
        except Exception as error:
            traceback.print_exc()
            run.skipped.append(f"end-to-end rows: {type(error).__name__}: {error}")


def measure(run: Run) -> Run:
    """Every row this machine allows, into `run`, GPU rows first (see the module doc)."""
    from vision.engine import get_engine_config
    from vision.gpu import gpu_usable

    usable, why = gpu_usable(get_engine_config().runtime.device_id)
    with tempfile.TemporaryDirectory() as tmp:
        folder = _export(Path(tmp) / "model")
        jpegs = _jpegs(32, width=1600)
        if usable:
            by_size = {"1.9 MP": jpegs, "4 MP": _jpegs(16, width=2300)}
            _gpu_rows(folder, by_size, run, trt_cache=Path(tmp) / "trt")
        if run.allows("the CPU path row"):
            cpu = _cpu_rows(folder, jpegs)
            if not usable:
                note = f"GPU rows not measured: {why}. No GPU figure is reported from this machine."
                cpu = replace(cpu, notes=note)
            run.add(cpu)
    return run


def run() -> list[BenchResult]:
    """For `make bench` (benchmarks.run)."""
    return measure(Run(deadline=time.monotonic() + BUDGET_S)).results


def main(argv: list[str] | None = None) -> int:
    from benchmarks.run import _table

    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_gpu", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    add = parser.add_argument
    add("--out", type=Path, default=os.environ.get("OUT") or None, help="default: $OUT")
    add("--budget-s", type=float, default=BUDGET_S, help="start nothing after this")
    add("--require-gpu", action="store_true", help="refuse unless ONNX Runtime has the GPU")
    args = parser.parse_args(argv)
    started, command = time.monotonic(), " ".join(["python -m benchmarks.bench_gpu", *argv])
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_gpu-"))
    out.mkdir(parents=True, exist_ok=True)
    if args.require_gpu:
        from vision.engine import get_engine_config
        from vision.gpu import gpu_usable

        usable, why = gpu_usable(get_engine_config().runtime.device_id)
        if not usable:
            print(f"bench_gpu: refused (--require-gpu): {why}", file=sys.stderr)
            return 2
    print(f"bench_gpu: results go to {out / RESULTS_FILE} and {out / PAGE_FILE}", flush=True)

    save = partial(_save, out / RESULTS_FILE, command, started)
    result = measure(Run(deadline=started + args.budget_s, save=save))
    save(result, done=True)
    (out / PAGE_FILE).write_text(_page(result.results), encoding="utf-8")
    print("\n".join(_table(result.results)))
    print("\n".join(f"- {r.name}: {r.notes}" for r in result.results if r.notes))
    print("\n".join(f"skipped: {s}" for s in result.skipped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
