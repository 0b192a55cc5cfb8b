"""Reuse detection: perceptual hashes of a photo and an index of near-duplicates.

A photo is hashed twice, 64 bits each: pHash (signs of the low DCT frequencies of a 32x32
grey copy against their median) and dHash (brightness gradient of a 9x8 copy). Both survive
re-encoding, resizing, mild crops and brightness changes. The distance between two photos is
the sum of both Hamming distances (0..128). `HashIndex` keeps every stored hash in two packed
uint64 arrays and answers a radius query by XOR and popcount over all of them at once:
about 16 bytes per photo, a few milliseconds per million (benchmarks/bench_hashing.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pydantic import Field

from shanyraq.config import StrictModel

HASH_BITS = 64
MAX_DISTANCE = 2 * HASH_BITS


class HashingConfig(StrictModel):
    """`reuse_radius`: largest distance (pHash + dHash bits, 0..128) counted as the same photo."""

    reuse_radius: int = Field(16, ge=0, le=MAX_DISTANCE)


@dataclass(frozen=True)
class PhotoHash:
    """pHash and dHash of one photo as unsigned 64-bit integers."""

    phash: int
    dhash: int

    def distance(self, other: PhotoHash) -> int:
        return (self.phash ^ other.phash).bit_count() + (self.dhash ^ other.dhash).bit_count()

    def to_hex(self) -> str:
        """32 hex digits (pHash then dHash): the form stored in databases."""
        return f"{self.phash:016x}{self.dhash:016x}"

    @classmethod
    def from_hex(cls, text: str) -> PhotoHash:
        if len(text) != 32:
            raise ValueError(f"a photo hash is 32 hex digits, got {len(text)}")
        return cls(phash=int(text[:16], 16), dhash=int(text[16:], 16))


def _bits_to_int(bits: np.ndarray) -> int:
    return int.from_bytes(np.packbits(bits.ravel().astype(np.uint8)).tobytes(), "big")


def _grey(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim == 2:
        return rgb
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def phash(grey: np.ndarray) -> int:
    small = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8]
    return _bits_to_int(low > float(np.median(np.asarray(low, dtype=np.float32))))


def dhash(grey: np.ndarray) -> int:
    small = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    return _bits_to_int(small[:, 1:] > small[:, :-1])


def perceptual_hash(rgb: np.ndarray) -> PhotoHash:
    """pHash and dHash of an RGB (H, W, 3) or grey (H, W) uint8 photo."""
    grey = _grey(rgb)
    # One area-averaged downscale first: both hashes then cost the same for any photo size.
    if min(grey.shape) > 128:
        scale = 128 / min(grey.shape)
        size = (max(32, round(grey.shape[1] * scale)), max(32, round(grey.shape[0] * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return PhotoHash(phash=phash(grey), dhash=dhash(grey))


class HashIndex:
    """Photo id -> PhotoHash, answering "which stored photos are within `radius`?"."""

    def __init__(self, capacity: int = 1024) -> None:
        self._phash = np.zeros(max(1, capacity), dtype=np.uint64)
        self._dhash = np.zeros(max(1, capacity), dtype=np.uint64)
        self._ids: list[str] = []

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def nbytes(self) -> int:
        """Bytes held by the hash arrays (ids are Python strings, counted apart)."""
        return int(self._phash.nbytes + self._dhash.nbytes)

    def _grow(self, needed: int) -> None:
        if needed <= len(self._phash):
            return
        capacity = max(needed, 2 * len(self._phash))
        for name in ("_phash", "_dhash"):
            old = getattr(self, name)
            new = np.zeros(capacity, dtype=np.uint64)
            new[: len(self._ids)] = old[: len(self._ids)]
            setattr(self, name, new)

    def add(self, photo_id: str, photo_hash: PhotoHash) -> None:
        self.add_many(
            [photo_id],
            np.array([photo_hash.phash], dtype=np.uint64),
            np.array([photo_hash.dhash], dtype=np.uint64),
        )

    def add_many(self, photo_ids: list[str], phashes: np.ndarray, dhashes: np.ndarray) -> None:
        """Bulk insert: ids with their pHash and dHash as uint64 arrays of the same length."""
        if not len(photo_ids) == len(phashes) == len(dhashes):
            raise ValueError("photo_ids, phashes and dhashes must have the same length")
        start = len(self._ids)
        self._grow(start + len(photo_ids))
        self._phash[start : start + len(photo_ids)] = np.asarray(phashes, dtype=np.uint64)
        self._dhash[start : start + len(photo_ids)] = np.asarray(dhashes, dtype=np.uint64)
        self._ids.extend(photo_ids)

    def distances(self, photo_hash: PhotoHash) -> np.ndarray:
        """Distance (uint8, 0..128) from `photo_hash` to every stored photo, in insertion order."""
        n = len(self._ids)
        p = np.bitwise_count(self._phash[:n] ^ np.uint64(photo_hash.phash))
        d = np.bitwise_count(self._dhash[:n] ^ np.uint64(photo_hash.dhash))
        p += d  # uint8 is wide enough: at most 128
        return p

    def query(self, photo_hash: PhotoHash, *, radius: int) -> list[tuple[str, int]]:
        """Stored photos within `radius`, nearest first, as (id, distance)."""
        dist = self.distances(photo_hash)
        hits = np.flatnonzero(dist <= radius)
        order = hits[np.argsort(dist[hits], kind="stable")]
        return [(self._ids[i], int(dist[i])) for i in order]

    def save(self, path: Path) -> None:
        n = len(self._ids)
        np.savez(path, ids=np.array(self._ids), phash=self._phash[:n], dhash=self._dhash[:n])

    @classmethod
    def load(cls, path: Path) -> HashIndex:
        with np.load(path, allow_pickle=False) as data:
            index = cls(capacity=len(data["ids"]))
            index.add_many([str(x) for x in data["ids"]], data["phash"], data["dhash"])
        return index
