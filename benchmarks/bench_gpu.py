"""Bulk re-scoring from JPEG bytes: the pipelined batch scorer vs naive one-at-a-time scoring.

On any machine: `vision.bulk.score_batches` (decode of batch k+1 overlapping inference of batch
k, batches of 32) against decoding and scoring each photo alone, both on the CPU path. Where a
GPU is usable, also the GPU path (nvJPEG decode + GPU resize + ONNX Runtime IO binding) at batch
64 and 256 for 1.9 MP and 4 MP photos, against the model-only rate of the same session and
against CPU decoding. Without a GPU those rows are not measured, and the notes say so.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.bench_engine import _export, _jpegs
from benchmarks.common import BenchResult, rate

if TYPE_CHECKING:
    from vision.bulk import PhotoBytes

MAX_PIXELS = 50_000_000
CPU_BATCH = 32


def _items(jpegs: list[bytes]) -> list[PhotoBytes]:
    from vision.bulk import PhotoBytes

    return [PhotoBytes(i, f"{i:064x}", data) for i, data in enumerate(jpegs)]


def _cpu_rows(folder: Path, jpegs: list[bytes]) -> BenchResult:
    from vision.bulk import CpuBytesScorer, score_batches
    from vision.engine import Engine, get_engine_config
    from vision.io import decode_image

    engine = Engine.load(folder, alone=True)
    decode_side = get_engine_config().decode_side_for(engine.artifact.preprocessing.size)
    scorer = CpuBytesScorer(engine, max_pixels=MAX_PIXELS, decode_short_side=decode_side)
    items = _items(jpegs)
    batches = [items[i : i + CPU_BATCH] for i in range(0, len(items), CPU_BATCH)]

    def naive() -> int:
        for item in items:
            pixels = decode_image(item.data, max_pixels=MAX_PIXELS, target_size=decode_side).pixels
            engine.score([pixels], sha256s=[item.sha256])
        return len(items)

    def pipelined() -> int:
        return sum(len(done) for done in score_batches(scorer, batches))

    return BenchResult(
        name=f"re-score 1.9 MP JPEGs on the CPU path ({engine.provider})",
        unit="photos/s",
        baseline="decode + score one photo at a time",
        baseline_rate=rate(naive, min_seconds=2.0),
        candidate=f"vision.bulk, batch {CPU_BATCH}, threaded decode overlapping inference",
        candidate_rate=rate(pipelined, min_seconds=2.0),
        goal="> 1x; on a GPU the goal is >= 5,000 photos/s end-to-end (1-2 MP)",
    )


def _gpu_rows(folder: Path, jpegs_by_size: dict[str, list[bytes]]) -> list[BenchResult]:
    import torch

    from vision.bulk import CpuBytesScorer, score_batches
    from vision.engine import Engine, get_engine_config
    from vision.gpu import TensorBytesScorer

    config = get_engine_config()
    gpu = TensorBytesScorer(folder, device="cuda", config=config, max_pixels=MAX_PIXELS)
    cpu = CpuBytesScorer(
        Engine.load(folder, alone=True), max_pixels=MAX_PIXELS, decode_short_side=1024
    )
    results = []
    for label, jpegs in jpegs_by_size.items():
        for batch in (64, 256):
            items = (_items(jpegs) * (batch // len(jpegs) + 1))[:batch]
            prepared = gpu.prepare(items)
            torch.cuda.synchronize()

            def model_only(p: Any = prepared, n: int = batch) -> int:
                gpu.run_prepared(p)
                return n

            def end_to_end(i: list[PhotoBytes] = items) -> int:
                # Four batches in a row, so decoding overlaps inference as in a real run.
                return sum(len(d) for d in score_batches(gpu, [i, i, i, i]))

            def cpu_decode(i: list[PhotoBytes] = items) -> int:
                return sum(len(d) for d in score_batches(cpu, [i]))

            e2e, model = rate(end_to_end), rate(model_only)
            results.append(BenchResult(
                name=f"GPU re-score {label} JPEGs, batch {batch} ({gpu.provider})",
                unit="photos/s", baseline="model only (same session, input ready on GPU)",
                baseline_rate=model, candidate="end-to-end from JPEG bytes (nvJPEG)",
                candidate_rate=e2e, goal=">= 0.5x model-only; >= 5,000 photos/s for 1-2 MP",
                notes=f"CPU-decode path: {rate(cpu_decode):.0f} photos/s",
            ))  # fmt: skip
    return results


def run() -> list[BenchResult]:
    from vision.gpu import gpu_usable

    usable, why = gpu_usable()
    with tempfile.TemporaryDirectory() as tmp:
        folder = _export(Path(tmp) / "model")
        jpegs = _jpegs(32, width=1600)
        cpu = _cpu_rows(folder, jpegs)
        if not usable:
            note = f"GPU rows not measured: {why}. No GPU figure is reported from this machine."
            return [BenchResult(**{**cpu.__dict__, "notes": note})]
        return [cpu, *_gpu_rows(folder, {"1.9 MP": jpegs, "4 MP": _jpegs(16, width=2300)})]
