"""Reuse detection: radius query over 1 million stored hashes, memory, recall and false matches.

Recall: synthetic room photos (training.synth) against edited copies (JPEG q40, half size,
4% crop, brighter, darker). False matches: pairs of different photos, many of the same style,
and at scale: every pair of photos of different homes among 10,000 generator photos (about
5e7 pairs), as the per-pair rate and the share of photos that would be flagged, which grow
with the number of photos stored.
"""

from __future__ import annotations

import io
import sys

import cv2
import numpy as np
from PIL import Image

from benchmarks.common import BenchResult, rate
from benchmarks.quality_curves import scenes
from vision.engine import get_engine_config
from vision.hashing import HashIndex, PhotoHash, perceptual_hash

N_STORED = 1_000_000


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def _crop(image: np.ndarray, fraction: float) -> np.ndarray:
    h, w = image.shape[:2]
    dy, dx = int(h * fraction), int(w * fraction)
    return image[dy : h - dy, dx : w - dx]


EDITS = {
    "jpeg-q40": lambda im: _jpeg(im, 40),
    "half-size": lambda im: cv2.resize(im, (im.shape[1] // 2, im.shape[0] // 2)),
    "crop-4%": lambda im: _crop(im, 0.04),
    "brighter": lambda im: np.clip(im.astype(np.int16) + 30, 0, 255).astype(np.uint8),
    "darker": lambda im: (im * 0.75).astype(np.uint8),
}


def robustness(n: int = 60, radii: tuple[int, ...] = (8, 12, 16, 20, 24, 28, 32)) -> str:
    photos = scenes(n, seed=3, width=640)
    hashes = [perceptual_hash(p) for p in photos]
    same = {
        name: [perceptual_hash(edit(p)).distance(h) for p, h in zip(photos, hashes, strict=True)]
        for name, edit in EDITS.items()
    }
    different = [a.distance(b) for i, a in enumerate(hashes) for b in hashes[i + 1 :]]
    rows = []
    for r in radii:
        recall = np.mean([d <= r for ds in same.values() for d in ds])
        false_match = np.mean([d <= r for d in different])
        rows.append(f"r={r}: recall {recall:.1%}, false-match {false_match:.2%}")
    per_edit = ", ".join(f"{k} max {max(v)}" for k, v in same.items())
    return (
        f"{n} synthetic photos, {len(different)} different pairs (min distance "
        f"{min(different)}); edited-copy distances: {per_edit}. " + "; ".join(rows)
    )


AT_SCALE_PHOTOS = 10_000
AT_SCALE_RADII = (8, 12, 16, 20, 24)


def false_matches_at_scale(n: int = AT_SCALE_PHOTOS) -> str:
    """Per-pair false-match rate among photos of different homes, rendered by the generator."""
    import tempfile
    from pathlib import Path

    from shanyraq.manifest import read_manifest
    from training.synth.photos import generate_photos
    from vision.io import decode_file

    with tempfile.TemporaryDirectory() as folder:
        manifest = read_manifest(generate_photos(n, Path(folder), seed=17, size=128))
        hashes = [
            perceptual_hash(decode_file(row.resolve(manifest.root), max_pixels=10**7).pixels)
            for row in manifest.rows
        ]
    ph = np.array([h.phash for h in hashes], dtype=np.uint64)
    dh = np.array([h.dhash for h in hashes], dtype=np.uint64)
    homes = np.array([row.family_id for row in manifest.rows])
    counts = np.zeros(129, dtype=np.int64)
    nearest = np.full(n, 129)
    for start in range(0, n, 500):
        rows = slice(start, min(n, start + 500))
        d = np.bitwise_count(ph[rows, None] ^ ph[None, :]).astype(np.int16)
        d += np.bitwise_count(dh[rows, None] ^ dh[None, :])
        other = homes[rows, None] != homes[None, :]
        counts += np.bincount(d[other], minlength=129)
        nearest[rows] = np.where(other, d, 129).min(axis=1)
    pairs, cumulative = counts.sum() // 2, np.cumsum(counts) // 2
    parts = [
        f"r={r}: {cumulative[r] / pairs:.1e} per pair, {np.mean(nearest <= r):.1%} of these "
        f"photos flagged, about {cumulative[r] / pairs * 1e6:.2g} false matches per upload "
        "with 1 M photos stored"
        for r in AT_SCALE_RADII
    ]
    return f"{n:,} generator photos of {len(set(homes)):,} homes, {pairs:,} pairs: " + "; ".join(
        parts
    )


def run() -> list[BenchResult]:
    rng = np.random.default_rng(0)
    top = np.iinfo(np.uint64).max
    phashes = rng.integers(0, top, N_STORED, dtype=np.uint64, endpoint=True)
    dhashes = rng.integers(0, top, N_STORED, dtype=np.uint64, endpoint=True)
    ids = [f"{i:012d}" for i in range(N_STORED)]
    index = HashIndex(capacity=N_STORED)
    index.add_many(ids, phashes, dhashes)
    query = PhotoHash(int(phashes[123]) ^ 0b1011, int(dhashes[123]))
    radius = get_engine_config().hashing.reuse_radius
    baseline_slice = 20_000  # the pure-Python scan is timed on a slice and scaled to 1 M

    def indexed() -> int:
        index.query(query, radius=radius)
        return 1

    def python_scan() -> int:
        for i in range(baseline_slice):
            _ = (int(phashes[i]) ^ query.phash).bit_count() + (
                int(dhashes[i]) ^ query.dhash
            ).bit_count()
        return 1

    qps = rate(indexed)
    python_qps = rate(python_scan, min_seconds=0.5) * baseline_slice / N_STORED
    id_bytes = sys.getsizeof(ids) + sum(sys.getsizeof(x) for x in ids)
    memory = (
        f"query {1000 / qps:.1f} ms per photo against {N_STORED:,} hashes (goal < 50 ms); "
        f"memory: hash arrays {index.nbytes / 2**20:.1f} MiB (16 B/photo) + ids as Python "
        f"strings {id_bytes / 2**20:.1f} MiB. Robustness at radius {radius}: {robustness()}. "
        f"False matches at scale: {false_matches_at_scale()}"
    )
    return [
        BenchResult(
            name=f"near-duplicate query, 1 photo vs {N_STORED:,} stored, radius {radius}",
            unit="queries/s",
            baseline="pure-Python popcount scan",
            baseline_rate=python_qps,
            candidate="HashIndex (numpy XOR + bitwise_count)",
            candidate_rate=qps,
            goal="< 50 ms per query (> 20 queries/s)",
            notes=memory,
        )
    ]


if __name__ == "__main__":
    for r in run():
        print(
            f"{r.name}: {r.candidate_rate:.1f} vs {r.baseline_rate:.3f} {r.unit} = {r.ratio:.0f}x"
        )
        print("  ", r.notes)
