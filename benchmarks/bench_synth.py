"""Synthetic photos at 256 px: one process rendering and encoding vs the shipped generator.

The candidate is `generate_photos` (worker processes, one per core up to 8 unless
configs/synth.yaml sets them; JPEGs and manifest written); the baseline is the same photos
rendered and encoded in one process. The goal is 100 photos/s on the 2-core development
machine; the CPU time per photo is reported too, because the machine is shared and
wall-clock rates move with other people's load.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmarks.common import BenchResult, rate
from shanyraq.taxonomy import get_taxonomy
from training.synth.config import get_synth_config
from training.synth.photos import (
    encode_jpeg,
    generate_photos,
    photo_rng,
    plan_photos,
    render_photo,
    worker_count,
)

SIZE = 256


def _cpu_ms_per_photo(specs: list, seed: int) -> float:
    start = time.process_time()
    for index, spec in enumerate(specs):
        encode_jpeg(render_photo(spec, size=SIZE, rng=photo_rng(seed, index)).image, 90)
    return 1000 * (time.process_time() - start) / len(specs)


def run(*, n_photos: int = 400, min_seconds: float = 1.0) -> list[BenchResult]:
    config = get_synth_config()
    seed = 0
    specs = [s for _, s in plan_photos(n_photos, seed=seed, config=config, taxonomy=get_taxonomy())]

    def single_process() -> int:
        for index, spec in enumerate(specs):
            encode_jpeg(render_photo(spec, size=SIZE, rng=photo_rng(seed, index)).image, 90)
        return len(specs)

    with tempfile.TemporaryDirectory() as tmp:

        def shipped() -> int:
            generate_photos(n_photos, Path(tmp) / "set", seed=seed, size=SIZE)
            return n_photos

        baseline = rate(single_process, min_seconds=min_seconds, repeats=2)
        candidate = rate(shipped, min_seconds=min_seconds, repeats=2)
    cpu_ms = _cpu_ms_per_photo(specs[: min(100, len(specs))], seed)
    cores, workers = os.cpu_count() or 1, worker_count(config, n_photos)
    return [
        BenchResult(
            name=f"synthetic photos, {SIZE} px, rendered and written as JPEG",
            unit="photos/s",
            baseline="render_photo + JPEG in one process",
            baseline_rate=baseline,
            candidate=f"generate_photos ({workers} worker process(es), files + manifest)",
            candidate_rate=candidate,
            goal=">= 100 photos/s on 2 cores",
            notes=(
                f"{cpu_ms:.1f} ms CPU per photo (render + JPEG), i.e. about "
                f"{cores * 1000 / cpu_ms:.0f} photos/s on this machine's {cores} cores if "
                "idle; wall-clock rates above depend on what else runs on the shared machine."
            ),
        )
    ]
