"""How the GPU benchmark opens its scorers and drives them (benchmarks.bench_gpu).

The GPU path's session on a chosen ONNX Runtime provider with TensorRT's batch profile, the
CPU path as `rescore --device cpu` runs it, and the small drivers its rows time: a whole run
through vision.bulk, a GPU sync, a count of the photos nvJPEG left to vision.io. Apart from
the rows themselves because these say what is measured, not how fast: no timing here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vision.bulk import BytesScorer, CpuBytesScorer, PhotoBytes
    from vision.engine import EngineConfig
    from vision.gpu import Device, TensorBytesScorer

MAX_PIXELS = 50_000_000
GPU_PROVIDERS = ("tensorrt", "cuda")  # vision.providers' short names, best first
DEVICE: Device = "cuda"  # tests run the GPU rows' code on "cpu"


def gpu_config(base: EngineConfig, provider: str, trt_cache: Path) -> EngineConfig:
    """`base` on `provider` first (then those after it, as configs/engine.yaml lists them) with
    a TensorRT engine cache in `trt_cache`: only with a cache folder does vision.gpu give
    TensorRT its batch profile (1 to 256); without one TensorRT builds an engine for the first
    batch it sees, and again (minutes) for each larger one."""
    providers = (*GPU_PROVIDERS[GPU_PROVIDERS.index(provider) :], "cpu")
    runtime = base.runtime.model_copy(
        update={"providers": providers, "trt_cache_dir": trt_cache,
                "trt_cache_keep_unused_days": None}
    )  # fmt: skip
    return base.model_copy(update={"runtime": runtime})


def _open_gpu_scorer(folder: Path, config: EngineConfig) -> TensorBytesScorer:
    from vision.gpu import TensorBytesScorer

    return TensorBytesScorer(folder, device=DEVICE, config=config, max_pixels=MAX_PIXELS)


def _sync(scorer: TensorBytesScorer) -> None:
    if scorer.device == "cuda":
        import torch

        torch.cuda.synchronize(scorer.config.runtime.device_id)


def _cpu_path(folder: Path) -> CpuBytesScorer:
    """The CPU path as `rescore --device cpu` runs it: ONNX Runtime's CPU provider alone, even
    where a GPU is usable, decoding at the configured side."""
    from vision.bulk import CpuBytesScorer, cpu_providers_only
    from vision.engine import Engine, get_engine_config

    config = get_engine_config()
    engine = Engine.load(folder, config=cpu_providers_only(config), alone=True)
    side = config.decode_side_for(engine.artifact.preprocessing.size)
    return CpuBytesScorer(engine, max_pixels=MAX_PIXELS, decode_short_side=side)


def _score_all(scorer: BytesScorer, batches: list[list[PhotoBytes]]) -> None:
    from vision.bulk import score_batches

    for _ in score_batches(scorer, batches):
        pass


def _prepare_counted(scorer: TensorBytesScorer, items: list[PhotoBytes]) -> tuple[Any, int]:
    """`scorer.prepare(items)`, and how many photos it decoded with vision.io, not nvJPEG."""
    fallbacks = 0
    decode = scorer._via_vision_io

    def counted(item: PhotoBytes) -> Any:
        nonlocal fallbacks
        fallbacks += 1
        return decode(item)

    scorer._via_vision_io = counted  # type: ignore[method-assign]  # this instance, this call
    try:
        return scorer.prepare(items), fallbacks
    finally:
        del scorer._via_vision_io
