"""The photo pipeline of an upload: decode, quality, resize, reuse hashes, then score (batched).

Pixels enter only through `vision.io`; CPU work (decode, quality, hash and the model's
resize/normalise) runs in the request's worker thread, in parallel across uploads; only the
model call goes through one `MicroBatcher`, so concurrent uploads share it (with batching off,
each upload's model call runs on a bounded pool of the pipeline's own threads). With no model
loaded, scoring says so (`score=None` with a reason): no score is ever invented.

`analyse` is the one definition of an upload's per-photo stages; benchmarks/bench_engine.py
times them through its `on_stage` hook rather than repeating them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from serving import pipeline_refusals as refusals
from serving.model_calls import ModelCalls
from serving.shutdown_stop import StopDeadline
from vision.io import DecodedImage, decode_image

if TYPE_CHECKING:
    from serving.core.config import Batching
    from vision.batcher import MicroBatcher
    from vision.engine import Engine
    from vision.hashing import PhotoHash, PhotoHashes
    from vision.quality import QualityVerdict
    from vision.score import PhotoScore

logger = logging.getLogger(__name__)

StageHook = Callable[[str, float], None]  # a stage's name and its seconds, told as it ends


@contextmanager
def _stage(name: str, on_stage: StageHook | None) -> Iterator[None]:
    """One named stage of `analyse`; a stage that raises is not reported (it did not end)."""
    start = time.perf_counter()
    yield
    if on_stage is not None:
        on_stage(name, time.perf_counter() - start)


@dataclass(frozen=True)
class Analysis:
    """What the CPU stage learned about one photo's bytes."""

    decoded: DecodedImage
    quality: QualityVerdict
    photo_hashes: PhotoHashes  # the full perceptual hash and its central crops' (reuse check)
    model_input: np.ndarray | None = None  # (3, S, S) for the loaded model, None without one

    @property
    def photo_hash(self) -> PhotoHash:
        return self.photo_hashes.full


@dataclass(frozen=True)
class _ScoreItem:
    model_input: np.ndarray
    sha256: str
    quality: QualityVerdict | None
    # When its upload gives up (time.monotonic(): /health asks from its own thread), None for
    # never; a call past every deadline in it is late.
    deadline: float | None = None


class PhotoPipeline:
    """Owns the engine and its batcher; `analyse` is sync (thread), `score` is async."""

    def __init__(
        self,
        *,
        max_pixels: int,
        decode_short_side_px: int,
        crop_fractions: tuple[float, ...] = (),
        cpu_workers: int = 0,
        engine: Engine | None,
        batching: bool,
        max_batch: int,
        max_wait_ms: float,
        score_timeout_s: float | None = None,
        max_queued: int | None = None,
        shutdown_wait_s: float | None = None,
    ) -> None:
        self.max_pixels = max_pixels
        self.score_timeout_s = score_timeout_s
        self.shutdown_wait_s = shutdown_wait_s
        self.crop_fractions = crop_fractions
        self.engine = engine
        self.cpu_workers = cpu_workers or os.cpu_count() or 1
        self._cpu_limiter: Any = None  # anyio.CapacityLimiter, made in the event loop
        # Decode only as many pixels as the quality gate and the model need (JPEG DCT scaling);
        # resolution is still judged on the size the camera stored.
        self.decode_side = decode_short_side_px
        if engine is not None:
            self.decode_side = max(decode_short_side_px, engine.artifact.preprocessing.size)
        # The server's stop lets the uploads waiting on the model go (serving.shutdown_stop).
        self.stop = StopDeadline(refusal=refusals.shutting_down)
        self._batcher: MicroBatcher[_ScoreItem, PhotoScore] | None = None
        self._calls: ModelCalls | None = None
        if engine is not None and batching:
            from vision.batcher import MicroBatcher

            self._batcher = MicroBatcher(
                self._score_batch,
                max_batch=max_batch,
                max_wait_ms=max_wait_ms,
                max_queued=max_queued,
                deadline_of=lambda item: item.deadline,
            )
        elif engine is not None:  # as many calls at once as photos in one batch
            self._calls = ModelCalls(workers=max_batch, max_waiting=max_queued)

    @classmethod
    def from_config(cls, engine: Engine | None, batching: Batching | None) -> PhotoPipeline:
        """The upload pipeline with the settings of configs/ (the pixel limit of shanyraq.yaml,
        decode side and crop hashes of engine.yaml); `batching` from serving.yaml, or None for
        one model call per upload. serving/app.py and benchmarks/bench_engine.py both use it."""
        from shanyraq.config import get_settings
        from vision.engine import get_engine_config

        config = get_engine_config()
        return cls(
            max_pixels=get_settings().io.max_pixels,
            decode_short_side_px=config.decode_short_side_px,
            crop_fractions=config.hashing.crop_fractions,
            engine=engine,
            batching=batching is not None and batching.enabled,
            max_batch=batching.max_batch if batching is not None else 1,
            max_wait_ms=batching.max_wait_ms if batching is not None else 0.0,
            score_timeout_s=batching.score_timeout_s if batching is not None else None,
            max_queued=batching.max_queued if batching is not None else None,
            shutdown_wait_s=batching.shutdown_wait_s if batching is not None else None,
        )

    @property
    def model_version(self) -> str | None:
        return self.engine.model_version if self.engine is not None else None

    @property
    def scoring_stopped(self) -> bool:
        """Whether the photo model's batcher died: uploads are refused until a restart."""
        return self._batcher is not None and self._batcher.stopped

    def model_calls_late(self) -> tuple[int, int]:
        """Model calls running now past the timeout of every upload they score, and how many run
        at once: batched, the batch running (0 or 1, of 1: the service's batcher serves the one
        event loop of its lifespan); unbatched, the calls on the model's threads (of
        `max_batch`); (0, 0) without a model. Once all are late, uploads are refused at once
        ("not answering"). Safe to ask from any thread (/health, /metrics)."""
        now = time.monotonic()
        if self._batcher is not None:
            return self._batcher.late_calls(now), 1
        if self._calls is not None:
            return self._calls.counts(now)[1], self._calls.workers
        return 0, 0

    def model_calls_late_for_s(self) -> float:
        """How long the call furthest past its uploads' timeout has been past it; 0.0: none."""
        calls = self._batcher or self._calls
        return calls.late_for_s(time.monotonic()) if calls is not None else 0.0

    @property
    def batch_sizes(self) -> list[int]:
        return self._batcher.batch_sizes if self._batcher is not None else []

    def analyse(self, data: bytes, *, on_stage: StageHook | None = None) -> Analysis:
        """Decode (refusing bad files with an ImageError), judge quality, resize, hash the pixels.

        The stages "decode", "quality", "resize" (for the model, when one is loaded) and "hash",
        in that order; `on_stage` is told each one's name and seconds as it ends.
        """
        from vision.hashing import reuse_hashes
        from vision.quality import assess_quality

        with _stage("decode", on_stage):
            decoded = decode_image(data, max_pixels=self.max_pixels, target_size=self.decode_side)
        with _stage("quality", on_stage):
            verdict = assess_quality(decoded.pixels, original_size=decoded.original_size)
        with _stage("resize", on_stage):
            model_input = self.engine.prepare(decoded.pixels) if self.engine is not None else None
        with _stage("hash", on_stage):
            photo_hashes = reuse_hashes(decoded.pixels, self.crop_fractions)
        return Analysis(
            decoded=decoded, quality=verdict, photo_hashes=photo_hashes, model_input=model_input
        )

    async def analyse_async(self, data: bytes) -> Analysis:
        """`analyse` in a worker thread, at most `cpu_workers` at a time.

        More threads than cores only queue for the GIL, and a thread holding the database's
        write lock then waits behind them: bounded, uploads finish in arrival order instead.
        """
        import anyio

        if self._cpu_limiter is None:
            self._cpu_limiter = anyio.CapacityLimiter(self.cpu_workers)
        return await anyio.to_thread.run_sync(self.analyse, data, limiter=self._cpu_limiter)

    def _score_batch(self, items: list[_ScoreItem]) -> list[PhotoScore]:
        assert self.engine is not None
        return self.engine.score_inputs(
            np.stack([i.model_input for i in items]),
            sha256s=[i.sha256 for i in items],
            quality=[i.quality for i in items],
        )

    def _score_item(self, analysis: Analysis) -> _ScoreItem:
        assert self.engine is not None
        model_input = analysis.model_input
        if model_input is None:  # analysed without the engine (not by `analyse`)
            model_input = self.engine.prepare(analysis.decoded.pixels)
        return _ScoreItem(model_input, analysis.decoded.sha256, analysis.quality)

    def score_now(self, analyses: Sequence[Analysis]) -> list[PhotoScore]:
        """What one micro-batch of `score` runs, here and now: one model call for `analyses`.

        For timing the upload path (benchmarks/bench_engine.py); needs a model loaded.
        """
        if self.engine is None:
            raise ValueError("no model loaded: score_now has nothing to score with")
        return self._score_batch([self._score_item(a) for a in analyses])

    async def score(self, analysis: Analysis) -> PhotoScore | None:
        """The photo's PhotoScore, or None when no model is loaded. Once the server's stop
        reaches `stop`'s deadline (serving.shutdown_stop) or the batcher is closed, when
        `max_queued` photos already wait for the model, when the model has not answered within
        `score_timeout_s` (a hung call: the caller is let go, the call itself runs on), with
        batching off when every model thread still runs a call past its upload's timeout, with
        batching on when the batch running is past the timeout of every upload in it (both at
        once, not after another timeout), or once the batcher's worker has died (named in the
        message), UnavailableError: the photo is not stored, and sending it again later is
        safe; its `retry_after_s` says when (BUSY_RETRY_AFTER_S and the others)."""
        if self.engine is None:
            return None
        item = self._score_item(analysis)
        if self.score_timeout_s is not None:  # to know a call is late (the timeout is the loop's)
            item = replace(item, deadline=time.monotonic() + self.score_timeout_s)
        try:
            async with self.stop.bounded(self.score_timeout_s):
                if self._batcher is not None:
                    return await self._score_batched(self._batcher, item)
                return await self._score_unbatched(item)
        except TimeoutError:
            logger.error(
                "the photo model did not answer within %s s (model %s); the upload was "
                "refused with 503 and nothing was stored",
                self.score_timeout_s,
                self.model_version,
            )
            raise refusals.timed_out(self.score_timeout_s, logged=True) from None

    def _not_answering(self, late: int) -> Exception:
        """The refusal while all the model's `late` calls run past their uploads' timeouts."""
        logger.error(
            "the photo model is not answering: %d of its calls (all it runs at once) have run "
            "past their uploads' %s s (model %s); uploads are refused until one returns",
            late,
            self.score_timeout_s,
            self.model_version,
        )
        return refusals.not_answering(late, score_timeout_s=self.score_timeout_s, logged=True)

    async def _score_batched(
        self, batcher: MicroBatcher[_ScoreItem, PhotoScore], item: _ScoreItem
    ) -> PhotoScore:
        """Submitted to the batcher; refused at once while the batch it runs is past the timeout
        of every upload in it (queued, it would only wait out its own behind it)."""
        from vision.batcher_errors import BatcherClosedError, BatcherFullError, BatcherStoppedError

        if not batcher.closed and batcher.late_calls(time.monotonic()):
            raise self._not_answering(1)
        try:
            # Not shielded: a caller the timeout lets go cancels its own request only (the
            # batcher settles the others'); queued, it takes no batch slot, so uploads
            # refused while the model hung are not scored later for nobody.
            return await batcher.submit(item)
        except BatcherFullError:
            raise refusals.busy(batcher.max_queued, score_timeout_s=self.score_timeout_s) from None
        except BatcherStoppedError as stopped:
            # Not "shutting down": scoring stopped for good (its worker's death is logged).
            raise refusals.scoring_stopped(stopped.reason) from None
        except BatcherClosedError:
            if item.deadline is not None and time.monotonic() >= item.deadline:
                # Let go by the close once its own timeout had come (a hung call is abandoned
                # once late), before the loop's timer for it ran: a timeout, told and logged
                # as `score` tells any other.
                raise TimeoutError from None
            raise refusals.shutting_down() from None

    async def _score_unbatched(self, item: _ScoreItem) -> PhotoScore:
        """One model call of its own, refused at once (no thread taken) when every model thread
        runs a call its upload already gave up on, or when `max_queued` calls already wait."""
        calls = self._calls
        assert calls is not None
        if calls.closed:
            raise refusals.shutting_down()
        waiting, late = calls.counts(time.monotonic())
        if late >= calls.workers:
            raise self._not_answering(late)
        if calls.max_waiting is not None and waiting >= calls.max_waiting:
            raise refusals.busy(waiting, score_timeout_s=self.score_timeout_s)
        scores = await calls.run(partial(self._score_batch, [item]), deadline=item.deadline)
        return scores[0]

    async def aclose(self) -> None:
        """Take no more photos; wait for the model calls running, at most `shutdown_wait_s` and
        never past `score_timeout_s` (None: no bound), and not once one is past its uploads'
        timeout (vision.late_calls; waiting gains nothing by then), batching on or off: a call
        still running after that (a hung model cannot be stopped) is abandoned, logged once, on
        a daemon thread that does not keep the process from exiting."""
        bounds = [b for b in (self.shutdown_wait_s, self.score_timeout_s) if b is not None]
        wait_s = min(bounds, default=None)
        start = time.monotonic()
        if self._batcher is not None:
            running = await self._batcher.aclose(wait_s=wait_s, clock=time.monotonic)
        elif self._calls is not None:
            self._calls.close()
            running = await asyncio.to_thread(self._calls.wait_until_settled, wait_s)
        else:
            return
        if running:
            logger.warning(
                "shutdown abandoned %d photo model call(s) still running after %.1f s, %d of them "
                "past their uploads' timeout (a call is waited for at most %s: "
                "batching.shutdown_wait_s, never past score_timeout_s); a hung model cannot be "
                "stopped, and the process exits without them",
                running,
                time.monotonic() - start,
                self.model_calls_late()[0],
                "no bound" if wait_s is None else f"{wait_s:g} s",
            )
