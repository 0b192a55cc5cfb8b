"""Scoring stored photos from their bytes in bulk: the types, the pipeline, the CPU scorer.

A scorer turns a batch of `PhotoBytes` into one `Scored` per photo in two steps, `prepare`
(decode and preprocess) and `infer` (the model), so that `score_batches` can prepare batch
k+1 in a background thread while batch k is inferred. `CpuBytesScorer` is the default and the
fallback (`vision.io` decodes as at upload, `Engine.score` scores); `vision.gpu` holds the GPU
scorer, and `open_scorer` picks it only where CUDA is really usable.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import numpy as np

from shanyraq.errors import DeviceUnavailableError, ImageError, ShanyraqError
from vision.score import PhotoScore

if TYPE_CHECKING:
    from vision.engine import Engine, EngineConfig
    from vision.quality import QualityVerdict

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class PhotoBytes:
    """One stored photo to score: its bytes and the quality verdict recorded at upload."""

    key: int
    sha256: str
    data: bytes
    quality: QualityVerdict | None = None


@dataclass(frozen=True)
class Scored:
    """The outcome for one photo: a score, or the reason there is none (never invented)."""

    key: int
    score: PhotoScore | None
    error: str = ""
    code: str = ""  # the error's stable code (ShanyraqError.code); "" for any other error


# --- pipelining ----------------------------------------------------------------------------

_DONE = object()


def prefetch(
    items: Iterable[T], fn: Callable[[T], R], *, depth: int = 1
) -> Generator[R, None, None]:
    """fn(item) for each item, in order, computed up to `depth` items ahead in one thread.

    While the caller works on result k, the thread computes k+1: decode overlaps inference.
    An exception in `fn` is raised to the caller at that item; closing the generator early
    stops the thread.
    """
    if depth < 1:
        raise ValueError("depth must be at least 1")
    results: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value: Any) -> bool:
        while not stop.is_set():
            try:
                results.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((True, fn(item))):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put((False, exc))
            return
        put(_DONE)

    thread = threading.Thread(target=work, name="shanyraq-prefetch", daemon=True)
    thread.start()
    try:
        while (entry := results.get()) is not _DONE:
            ok, value = entry
            if not ok:
                raise value
            yield value
    finally:
        stop.set()
        thread.join()


class BytesScorer(Protocol):
    name: str
    model_version: str

    def prepare(self, batch: list[PhotoBytes]) -> Any: ...

    def infer(self, prepared: Any) -> list[Scored]: ...


def score_batches(
    scorer: BytesScorer, batches: Iterable[list[PhotoBytes]]
) -> Iterator[list[Scored]]:
    """Scores per batch, in order, preparing the next batch while the current one is inferred."""
    for prepared in prefetch(batches, scorer.prepare, depth=1):
        yield scorer.infer(prepared)


# --- scorers ---------------------------------------------------------------------------------


def failure(item: PhotoBytes, exc: Exception) -> Scored:
    if isinstance(exc, ShanyraqError):
        return Scored(item.key, None, exc.message, exc.code)
    return Scored(item.key, None, f"{type(exc).__name__}: {exc}")


class CpuBytesScorer:
    """The default path: vision.io decodes (as at upload), Engine.score preprocesses and scores."""

    name = "cpu"

    def __init__(
        self,
        engine: Engine,
        *,
        max_pixels: int,
        decode_short_side: int | None,
        decode_threads: int = 0,
    ) -> None:
        self.engine = engine
        self.model_version = engine.model_version
        self.max_pixels = max_pixels
        # As uploads decode (serving.pipeline, EngineConfig.decode_side_for): never below the
        # model's input, so a model over `decode_short_side` px sees the pixels it saw at upload.
        model_px = engine.artifact.preprocessing.size
        self.decode_short_side = (
            None if decode_short_side is None else max(decode_short_side, model_px)
        )
        # Pillow releases the GIL while decoding, so threads decode in parallel (0 = per core).
        self.decode_threads = decode_threads or os.cpu_count() or 1

    def _decode(self, item: PhotoBytes) -> np.ndarray | Exception:
        from vision.io import decode_image

        try:
            return decode_image(
                item.data, max_pixels=self.max_pixels, target_size=self.decode_short_side
            ).pixels
        except ImageError as exc:
            return exc
        except Exception as exc:  # whatever one photo's bytes cause costs that photo only
            logger.warning("photo %s: undecodable", item.key, exc_info=True)
            return exc

    def prepare(self, batch: list[PhotoBytes]) -> tuple[list[PhotoBytes], list[Any]]:
        if self.decode_threads == 1 or len(batch) < 2:
            return batch, [self._decode(item) for item in batch]
        with ThreadPoolExecutor(max_workers=min(self.decode_threads, len(batch))) as pool:
            return batch, list(pool.map(self._decode, batch))

    def infer(self, prepared: tuple[list[PhotoBytes], list[Any]]) -> list[Scored]:
        batch, decoded = prepared
        good = [i for i, pixels in enumerate(decoded) if isinstance(pixels, np.ndarray)]
        scores = self.engine.score(
            [decoded[i] for i in good],
            sha256s=[batch[i].sha256 for i in good],
            quality=[batch[i].quality for i in good],
        )
        by_index = dict(zip(good, scores, strict=True))
        return [
            Scored(item.key, by_index[i]) if i in by_index else failure(item, decoded[i])
            for i, item in enumerate(batch)
        ]


def cpu_providers_only(config: EngineConfig) -> EngineConfig:
    """`config` with ONNX Runtime on its CPU provider alone. The CPU path asked for must not
    take a GPU the machine has (TensorRT or CUDA in fp16, other numbers than the CPU's): a Ray
    actor given no GPU still sees its node's, and `rescore --device cpu` means the CPU."""
    runtime = config.runtime.model_copy(update={"providers": ("cpu",)})
    return config.model_copy(update={"runtime": runtime})


def open_scorer(
    folder: Path,
    *,
    prefer: Literal["auto", "cpu", "gpu"] = "auto",
    config: EngineConfig | None = None,
    max_pixels: int,
    decode_short_side: int | None = None,
) -> BytesScorer:
    """The GPU scorer when asked for or "auto" and usable; otherwise the CPU scorer. Asked for
    the CPU ("cpu"), its model runs on ONNX Runtime's CPU provider alone, whatever GPU the
    machine has (`cpu_providers_only`)."""
    from vision.engine import Engine, get_engine_config

    config = config or get_engine_config()
    if prefer == "cpu":
        config = cpu_providers_only(config)
    else:
        from vision.gpu import gpu_usable

        usable, why = gpu_usable(config.runtime.device_id)
        if usable:
            from vision.gpu import TensorBytesScorer

            return TensorBytesScorer(folder, device="cuda", config=config, max_pixels=max_pixels)
        if prefer == "gpu":
            raise DeviceUnavailableError(
                f"--device gpu was asked for but the GPU path cannot run here: {why}; the "
                "devices are auto (the GPU when usable, else the CPU), cpu and gpu: use "
                "--device cpu or auto"
            )
        logger.info("GPU path not used (%s); scoring on the CPU", why)
    engine = Engine.load(folder, config=config, alone=True)
    return CpuBytesScorer(engine, max_pixels=max_pixels, decode_short_side=decode_short_side)
