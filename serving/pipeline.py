"""The photo pipeline of an upload: decode, quality, perceptual hash, then score (batched).

Pixels enter only through `vision.io`; CPU work runs in a worker thread; scoring goes through
one `MicroBatcher` so concurrent uploads share model calls. With no model loaded, scoring says
so (`score=None` with a reason): no score is ever invented.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vision.io import DecodedImage, decode_image

if TYPE_CHECKING:
    from vision.batcher import MicroBatcher
    from vision.engine import Engine
    from vision.hashing import PhotoHash
    from vision.quality import QualityVerdict
    from vision.score import PhotoScore

logger = logging.getLogger(__name__)

# Decode JPEGs at reduced scale: the model, the quality gate and the served copy all need far
# fewer pixels than a phone takes; quality judges resolution on the original size.
DECODE_SHORT_SIDE_PX = 1024


@dataclass(frozen=True)
class Analysis:
    """What the CPU stage learned about one photo's bytes."""

    decoded: DecodedImage
    quality: QualityVerdict
    photo_hash: PhotoHash


@dataclass(frozen=True)
class _ScoreItem:
    pixels: np.ndarray
    sha256: str
    quality: QualityVerdict | None


class PhotoPipeline:
    """Owns the engine and its batcher; `analyse` is sync (thread), `score` is async."""

    def __init__(
        self,
        *,
        max_pixels: int,
        engine: Engine | None,
        batching: bool,
        max_batch: int,
        max_wait_ms: float,
    ) -> None:
        self.max_pixels = max_pixels
        self.engine = engine
        self._batcher: MicroBatcher[_ScoreItem, PhotoScore] | None = None
        if engine is not None and batching:
            from vision.batcher import MicroBatcher

            self._batcher = MicroBatcher(
                self._score_batch, max_batch=max_batch, max_wait_ms=max_wait_ms
            )

    @property
    def model_version(self) -> str | None:
        return self.engine.model_version if self.engine is not None else None

    @property
    def batch_sizes(self) -> list[int]:
        return self._batcher.batch_sizes if self._batcher is not None else []

    def analyse(self, data: bytes) -> Analysis:
        """Decode (refusing bad files with an ImageError), judge quality and hash the pixels."""
        from vision.hashing import perceptual_hash
        from vision.quality import assess_quality

        decoded = decode_image(data, max_pixels=self.max_pixels, target_size=DECODE_SHORT_SIDE_PX)
        verdict = assess_quality(decoded.pixels, original_size=decoded.original_size)
        return Analysis(
            decoded=decoded, quality=verdict, photo_hash=perceptual_hash(decoded.pixels)
        )

    def _score_batch(self, items: list[_ScoreItem]) -> list[PhotoScore]:
        assert self.engine is not None
        return self.engine.score(
            [i.pixels for i in items],
            sha256s=[i.sha256 for i in items],
            quality=[i.quality for i in items],
        )

    async def score(self, analysis: Analysis) -> PhotoScore | None:
        """The photo's PhotoScore, or None when no model is loaded."""
        if self.engine is None:
            return None
        item = _ScoreItem(analysis.decoded.pixels, analysis.decoded.sha256, analysis.quality)
        if self._batcher is not None:
            return await self._batcher.submit(item)
        import anyio.to_thread

        scores = await anyio.to_thread.run_sync(self._score_batch, [item])
        return scores[0]

    async def aclose(self) -> None:
        if self._batcher is not None:
            await self._batcher.aclose()


def score_to_json(score: PhotoScore | None) -> dict[str, Any] | None:
    return score.to_dict() if score is not None else None
