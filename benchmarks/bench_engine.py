"""The scoring engine: ONNX Runtime vs torch eager, end-to-end vs model-only, batch sizes, latency.

Uses the demo variant (shanyraq_mnv3_small, untrained weights: speed does not depend on them)
exported through vision.export into a temporary folder. Two engine configurations, as
configs/engine.yaml sets them: scoring alone (bulk, CLI: `Engine.load(alone=True)`, ONNX
Runtime's threads may spin) for the model rows, and the service's (`Engine.load`, as
serving/app.py loads it) for the end-to-end rows, which run an upload's photo work through
serving/pipeline.py itself (its `analyse` stages, timed by its hook). The end-to-end ratio is
measured for a production-size variant too (shanyraq_effb0, 224 px): the ratio says how much of
the model's rate the photo path keeps, so it depends on how much work the model itself is. GPU
rows appear only where a GPU provider is really usable; on a CPU-only machine the notes say
they were not measured.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from benchmarks.common import BenchResult, rate, rates, spread
from benchmarks.quality_curves import scenes

if TYPE_CHECKING:
    from serving.pipeline import PhotoPipeline
    from vision.engine import Engine, RuntimeConfig

VARIANT = "shanyraq_mnv3_small"
PRODUCTION_VARIANT = "shanyraq_effb0"


def _export(folder: Path, variant: str = VARIANT) -> Path:
    import torch

    from shanyraq.taxonomy import get_taxonomy
    from vision.export import ExportRequest, export_artifact
    from vision.model import create_model, get_variant, model_preprocessing

    torch.manual_seed(0)
    taxonomy = get_taxonomy()
    model = create_model(variant, taxonomy=taxonomy).eval()
    size = get_variant(variant).input_size
    request = ExportRequest(
        variant=variant,
        preprocessing=model_preprocessing(model, size=size),
        model_version="bench",
    )
    images = scenes(2, seed=0, width=320)
    export_artifact(model, folder, request=request, taxonomy=taxonomy, parity_images=images)
    return folder


def _jpegs(n: int, *, width: int = 1600) -> list[bytes]:
    """Phone-like JPEGs of synthetic rooms (width x 3/4 width: 1.9 MP by default)."""
    out = []
    for image in scenes(n, seed=100, width=width):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def ort_threading(runtime: RuntimeConfig) -> str:
    """ONNX Runtime's CPU threads and spinning as configured, for row labels."""
    n = runtime.intra_op_threads
    threads = f"{n} intra-op thread(s)" if n else "intra-op threads one per core"
    return f"{threads}, spinning {'on' if runtime.allow_spinning else 'off'}"


def _torch_vs_onnx(
    engine: Engine, folder: Path, batch: np.ndarray, *, min_seconds: float = 1.0
) -> BenchResult:
    import torch

    from vision.model import load_model

    model, _ = load_model(folder)

    def eager() -> int:
        with torch.inference_mode():
            model(torch.from_numpy(batch))
        return len(batch)

    # The baseline gets its best thread count (on a busy 2-core machine 1 can beat 2).
    threads = torch.get_num_threads()
    eager_rates = {}
    for n in sorted({1, threads}):
        torch.set_num_threads(n)
        eager_rates[n] = rates(eager, min_seconds=min_seconds)
    torch.set_num_threads(threads)
    best = max(eager_rates, key=lambda n: max(eager_rates[n]))

    def onnx() -> int:
        engine.run_logits(batch)
        return len(batch)

    onnx_rates = rates(onnx, min_seconds=min_seconds)
    torch_rates = eager_rates[best]
    return BenchResult(
        name=f"model inference, batch {len(batch)}, {VARIANT}",
        unit="img/s",
        baseline=f"torch eager (inference_mode, {best} thread(s))",
        baseline_rate=max(torch_rates),
        candidate=f"ONNX Runtime engine ({engine.provider}, scoring alone: "
        f"{ort_threading(engine.config.runtime)})",
        candidate_rate=max(onnx_rates),
        goal=">= 3.5x on CPU",
        notes=f"best of {len(onnx_rates)} runs per side; img/s over the runs: torch "
        f"{spread(torch_rates)}, ORT {spread(onnx_rates)} (ratio "
        f"{min(onnx_rates) / max(torch_rates):.2f}-{max(onnx_rates) / min(torch_rates):.2f}x).",
    )


def service_pipeline(engine: Engine | None) -> PhotoPipeline:
    """The service's photo pipeline on `engine` (None: no model), without the micro-batcher,
    because `upload_work` makes one upload's batch itself."""
    from serving.pipeline import PhotoPipeline

    return PhotoPipeline.from_config(engine, batching=None)


def upload_work(
    pipeline: PhotoPipeline, jpegs: list[bytes], stage_seconds: dict[str, float]
) -> int:
    """One upload's photo work for each of `jpegs`, then one model call for them all (a
    micro-batch); each stage's seconds are added to `stage_seconds`.

    Per photo, one after another in this thread: the pipeline's own `analyse`, its stages timed
    by its `on_stage` hook; then `score_now`, what one of its micro-batches runs ("score").
    """

    def add(stage: str, seconds: float) -> None:
        stage_seconds[stage] = stage_seconds.get(stage, 0.0) + seconds

    analyses = [pipeline.analyse(data, on_stage=add) for data in jpegs]
    start = time.perf_counter()
    pipeline.score_now(analyses)
    add("score", time.perf_counter() - start)
    return len(analyses)


def _end_to_end(
    engine: Engine,
    jpegs: list[bytes],
    batch: np.ndarray,
    *,
    variant: str = VARIANT,
    min_seconds: float = 1.0,
) -> BenchResult:
    """`engine` should be the service's (`Engine.load` without `alone`): both sides use it."""
    import cv2

    def model_only() -> int:
        engine.run_logits(batch)
        return len(batch)

    pipeline = service_pipeline(engine)
    stage_seconds: dict[str, float] = {}
    # The service runs each upload's photo work in one thread, OpenCV's own threads off
    # (serving/app.py); ONNX Runtime keeps its configured threads.
    cv2_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        model_rate = rate(model_only, min_seconds=min_seconds)
        full_rate = rate(
            lambda: upload_work(pipeline, jpegs, stage_seconds), min_seconds=min_seconds
        )
    finally:
        cv2.setNumThreads(cv2_threads)
    total = sum(stage_seconds.values())
    shares = ", ".join(f"{k} {v / total:.0%}" for k, v in stage_seconds.items())
    crops = ", ".join(f"{f:.0%}" for f in pipeline.crop_fractions)
    return BenchResult(
        name=f"end-to-end, {len(jpegs)} x 1.9 MP JPEG (decode+quality+hash+score)"
        + ("" if variant == VARIANT else f", {variant}"),
        unit="img/s",
        baseline=f"model only (batch {len(batch)})",
        baseline_rate=model_rate,
        candidate="end-to-end",
        candidate_rate=full_rate,
        goal=">= 0.8x",
        notes=f"{variant}; both sides on the service's engine ({engine.provider}, "
        f"{ort_threading(engine.config.runtime)}). The upload path's work (serving/pipeline.py "
        f"itself): decode at {pipeline.decode_side} px shorter side, quality gate, resize, reuse "
        f"hashes (full photo and central crops of {crops} per side), then one model call for "
        f"the {len(jpegs)} photos; "
        "the photo path in one thread (OpenCV 1 thread, as in the service), ONNX Runtime's "
        f"threads as configured. Time per stage: {shares}. "
        + (
            "On CPU the JPEG decode and the quality gate cost far more than the small demo "
            "model, so this goal is for GPU serving (nvJPEG); not met on CPU"
            if variant == VARIANT
            else "A production-size model (random weights: speed does not depend on them) "
            "does more work per photo, so the photo path costs a smaller share"
        ),
    )


def _production_end_to_end(folder: Path, jpegs: list[bytes]) -> BenchResult:
    from vision.engine import Engine

    engine = Engine.load(_export(folder, PRODUCTION_VARIANT))  # the service's configuration
    size = engine.artifact.preprocessing.size
    batch = np.random.default_rng(1).standard_normal((8, 3, size, size)).astype(np.float32)
    return _end_to_end(engine, jpegs, batch, variant=PRODUCTION_VARIANT)


def _batch_sizes(engine: Engine, spec_size: int, sizes: tuple[int, ...]) -> list[BenchResult]:
    rng = np.random.default_rng(0)
    rates = {}
    for n in sizes:
        batch = rng.standard_normal((n, 3, spec_size, spec_size)).astype(np.float32)

        def work(batch: np.ndarray = batch) -> int:
            engine.run_logits(batch)
            return len(batch)

        rates[n] = rate(work)
    provider = engine.provider
    return [
        BenchResult(
            name=f"batched throughput ({provider}), batch {n}",
            unit="img/s",
            baseline="batch 1",
            baseline_rate=rates[sizes[0]],
            candidate=f"batch {n}",
            candidate_rate=rates[n],
            goal="> 1x",
        )
        for n in sizes[1:]
    ]


def _latency(engine: Engine, photo: np.ndarray, repeats: int = 200) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        engine.score([photo], sha256s=["0" * 64])
        times.append(time.perf_counter() - start)
    p50, p95 = np.percentile(times, [50, 95]) * 1000
    return float(p50), float(p95)


def run() -> list[BenchResult]:
    from vision.engine import Engine

    with tempfile.TemporaryDirectory() as tmp:
        folder = _export(Path(tmp) / "model")
        # Scoring alone (bulk, CLI): ORT's threads may spin. The service's engine may not.
        engine = Engine.load(folder, alone=True)
        service = Engine.load(folder)
        size = engine.artifact.preprocessing.size
        batch = np.random.default_rng(1).standard_normal((8, 3, size, size)).astype(np.float32)
        results = [_torch_vs_onnx(engine, folder, batch)]
        jpegs = _jpegs(8)
        results.append(_end_to_end(service, jpegs, batch))
        results.append(_production_end_to_end(Path(tmp) / "production", jpegs))
        gpu = engine.provider != "cpu"
        results += _batch_sizes(engine, size, (1, 32, 256) if gpu else (1, 8, 32))
        p50, p95 = _latency(engine, scenes(1, seed=7, width=640)[0])
    gpu_note = (
        f"GPU provider {engine.provider}: figures above are GPU figures."
        if gpu
        else "GPU (CUDA/TensorRT fp16, IO binding) not measured: no GPU on this machine."
    )
    service_rate = results[1].baseline_rate  # the same batch on the service's engine
    results[0] = _with_note(
        results[0],
        f"{results[0].notes} Scoring alone (bulk, CLI: runtime.allow_spinning_alone); the "
        f"service's engine ({ort_threading(service.config.runtime)}), which leaves idle CPU "
        "to uploads: "
        f"{service_rate:,.0f} img/s ({service_rate / results[0].baseline_rate:.2f}x torch; "
        f"the end-to-end row's baseline). Single-photo latency on the scoring-alone engine "
        f"(640x480 decoded photo, engine.score) p50 {p50:.1f} ms, p95 {p95:.1f} ms on "
        f"{engine.provider}. {gpu_note}",
    )
    return results


def _with_note(result: BenchResult, note: str) -> BenchResult:
    from dataclasses import replace

    return replace(result, notes=note)


if __name__ == "__main__":
    for r in run():
        print(
            f"{r.name}: {r.candidate_rate:.1f} vs {r.baseline_rate:.1f} {r.unit} = {r.ratio:.2f}x"
        )
        if r.notes:
            print("  ", r.notes)
