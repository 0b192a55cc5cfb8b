"""Decoding a phone-sized JPEG: full decode vs reduced decode for a 256 px model input."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from benchmarks.common import BenchResult, rate
from vision.io import decode_image


def _phone_jpeg(width: int = 2000, height: int = 1500, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, size=(height // 25, width // 25, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def run() -> list[BenchResult]:
    data = _phone_jpeg()
    limit = 50_000_000

    def full() -> int:
        decode_image(data, max_pixels=limit)
        return 1

    def reduced() -> int:
        decode_image(data, max_pixels=limit, target_size=256)
        return 1

    return [
        BenchResult(
            name="decode 3 MP JPEG for a 256 px input",
            unit="photos/s",
            baseline="full-size decode",
            baseline_rate=rate(full),
            candidate="vision.io reduced decode (JPEG draft)",
            candidate_rate=rate(reduced),
            goal="> 1x (decoding is the usual bottleneck)",
        )
    ]
