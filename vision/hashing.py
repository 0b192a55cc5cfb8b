"""Reuse detection: perceptual hashes of a photo and an index of near-duplicates.

A photo is hashed twice, 64 bits each: pHash (signs of the low DCT frequencies of a 32x32
grey copy against their median) and dHash (brightness gradient of a 9x8 copy). Both survive
re-encoding, resizing and brightness changes. The distance between two photos is the sum of
both Hamming distances (0..128). A crop moves every block of such a global hash, so a photo
also keeps the hashes of a few central crops (`crop_fractions`): a cropped copy of it is then
near one of them. `HashIndex` keeps every stored hash in packed uint64 arrays and answers by
XOR and popcount over all of them at once: 16 bytes per hash, a few milliseconds per million
(benchmarks/bench_hashing.py). Hashes only propose candidates; vision.reuse verifies them.

A blank or flat frame (covered lens, white wall: the quality gate's `uniform`) has no hash
worth the name: its low frequencies are all (nearly) zero, they tie at the median and its
pHash keeps almost no set bits, while any photo with structure sets half of them. Sensor noise
and rounding leave such a frame's coefficients a fraction of a grey level apart, which would
set half the bits at random: a coefficient within `PHASH_TIE_BAND` of the median counts as a
tie (bit 0), as it would in a noiseless frame. Such a
hash is not `informative`: it never decides reuse on its own, so two blank photos of different
families are not called the same photo. It still proposes candidates where every one is
verified on pixels (the service), unless the frame is flat in all its low frequencies: a
close-up of a cracked plain wall, evidence the quality gate passes, keeps as few set bits as a
blank frame, and only its pixels tell a copy of it apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pydantic import Field, model_validator

from shanyraq.config import StrictModel
from vision.reuse import ReuseFeatures, VerificationConfig, verify

HASH_BITS = 64
MAX_DISTANCE = 2 * HASH_BITS
HEX_DIGITS = 32  # one PhotoHash
MAX_CROPS = 3  # the database keeps 128 hex digits: the full hash and three crops
# A pHash splits 64 coefficients at their median, so a photo with structure sets 32 bits; a
# frame whose coefficients mostly tie (flat, blank, a 1-pixel strip) sets far fewer.
MIN_INFORMATIVE_PHASH_BITS = 16
# Low DCT coefficients (orthonormal, grey levels of the 32x32 copy) this close to the median
# are ties. Blank frames of 240 px and more with sensor noise of std 2-5 reach 1.1 at the 90th
# percentile, and keep at most 2 set bits with this band (32 without it); room photos have 3.8 %
# of their coefficients within it (at most 6 of 64), bits that flipped with any re-encoding.
PHASH_TIE_BAND = 2.0
# Where every candidate is verified on pixels (`candidates(on_pixels=True)`), a hash proposes
# candidates unless no bit past the DC coefficient's is set: a frame flat in all its low
# frequencies (a flat or evenly lit one). A thin crack on a plain wall sets 5-10 bits.
MIN_CANDIDATE_PHASH_BITS = 2
_HEX = frozenset("0123456789abcdefABCDEF")


class HashingConfig(StrictModel):
    """configs/engine.yaml `hashing`; distances are pHash + dHash bits (0..128).

    `reuse_radius`: full-hash distance counted as the same photo where nothing verifies
    (welfare evaluate-real, the CLI, the service when a stored photo cannot be read).
    `candidate_radius`, `max_candidates`: what the service verifies, nearest first.
    No defaults here or in `verification`: engine.yaml is the one source of these values, and
    a key missing from it is an error that names the key.
    """

    reuse_radius: int = Field(ge=0, le=MAX_DISTANCE)
    crop_fractions: tuple[float, ...] = Field(max_length=MAX_CROPS)
    candidate_radius: int = Field(ge=0, le=MAX_DISTANCE)
    max_candidates: int = Field(ge=1)
    verification: VerificationConfig
    verdict_cache: int = Field(ge=0, description="verified pairs kept in memory")
    feature_cache: int = Field(ge=0, description="photos' verification features kept")

    @model_validator(mode="after")
    def _consistent(self) -> HashingConfig:
        if any(not 0 < f < 0.25 for f in self.crop_fractions):
            raise ValueError(f"crop_fractions must each be in (0, 0.25), got {self.crop_fractions}")
        if self.candidate_radius < self.reuse_radius:
            raise ValueError(
                f"candidate_radius ({self.candidate_radius}) must be at least reuse_radius "
                f"({self.reuse_radius}): the unverified fallback applies to candidates"
            )
        return self


@dataclass(frozen=True)
class PhotoHash:
    """pHash and dHash of one photo as unsigned 64-bit integers."""

    phash: int
    dhash: int

    def __post_init__(self) -> None:
        for name in ("phash", "dhash"):
            value = getattr(self, name)
            if not 0 <= value < 1 << HASH_BITS:
                raise ValueError(f"{name} must be an unsigned {HASH_BITS}-bit integer, got {value}")

    def distance(self, other: PhotoHash) -> int:
        return (self.phash ^ other.phash).bit_count() + (self.dhash ^ other.dhash).bit_count()

    @property
    def informative(self) -> bool:
        """False for a flat or blank frame's hash: it cannot tell one such photo from another."""
        return self.phash.bit_count() >= MIN_INFORMATIVE_PHASH_BITS

    def to_hex(self) -> str:
        """32 hex digits (pHash then dHash): the form stored in databases."""
        return f"{self.phash:016x}{self.dhash:016x}"

    @classmethod
    def from_hex(cls, text: str) -> PhotoHash:
        if len(text) != HEX_DIGITS or not _HEX.issuperset(text):
            # int(..., 16) alone would take "-", "_", "0x" and spaces.
            raise ValueError(f"a photo hash is {HEX_DIGITS} hex digits, got {text!r}")
        return cls(phash=int(text[:16], 16), dhash=int(text[16:], 16))


@dataclass(frozen=True)
class PhotoHashes:
    """A photo's full hash and the hashes of its central crops (`crop_fractions`, in order)."""

    full: PhotoHash
    crops: tuple[PhotoHash, ...] = ()

    def to_hex(self) -> str:
        """32 hex digits per hash, the full one first; a full-only hex is a PhotoHash's."""
        return "".join(h.to_hex() for h in (self.full, *self.crops))

    @classmethod
    def from_hex(cls, text: str) -> PhotoHashes:
        if not text or len(text) % HEX_DIGITS or len(text) > HEX_DIGITS * (1 + MAX_CROPS):
            raise ValueError(f"photo hashes are 32 to 128 hex digits in 32s, got {len(text)}")
        parts = [
            PhotoHash.from_hex(text[i : i + HEX_DIGITS]) for i in range(0, len(text), HEX_DIGITS)
        ]
        return cls(full=parts[0], crops=tuple(parts[1:]))

    def padded(self, count: int) -> tuple[PhotoHash, ...]:
        """Exactly `count` hashes: full first, missing crops filled with the full hash."""
        hashes = (self.full, *self.crops)[:count]
        return hashes + (self.full,) * (count - len(hashes))

    def distance(self, other: PhotoHashes) -> int:
        """Least distance of either full hash to any hash of the other photo."""
        return min(
            [self.full.distance(h) for h in (other.full, *other.crops)]
            + [h.distance(other.full) for h in self.crops]
        )


def _bits_to_int(bits: np.ndarray) -> int:
    return int.from_bytes(np.packbits(bits.ravel().astype(np.uint8)).tobytes(), "big")


def _grey(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim == 2:
        return rgb
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def phash(grey: np.ndarray) -> int:
    small = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8]
    median = float(np.median(np.asarray(low, dtype=np.float32)))
    return _bits_to_int(low > median + PHASH_TIE_BAND)


def dhash(grey: np.ndarray) -> int:
    small = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    return _bits_to_int(small[:, 1:] > small[:, :-1])


def _hashing_grey(rgb: np.ndarray) -> np.ndarray:
    grey = _grey(rgb)
    # One area-averaged downscale first: both hashes then cost the same for any photo size.
    if min(grey.shape) > 128:
        scale = 128 / min(grey.shape)
        size = (max(32, round(grey.shape[1] * scale)), max(32, round(grey.shape[0] * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return grey


def perceptual_hash(rgb: np.ndarray) -> PhotoHash:
    """pHash and dHash of an RGB (H, W, 3) or grey (H, W) uint8 photo."""
    grey = _hashing_grey(rgb)
    return PhotoHash(phash=phash(grey), dhash=dhash(grey))


def central_crop(image: np.ndarray, fraction: float) -> np.ndarray:
    """`image` without `fraction` of its height and width on every side."""
    h, w = image.shape[:2]
    dy, dx = int(h * fraction), int(w * fraction)
    return image[dy : h - dy, dx : w - dx]


def reuse_hashes(rgb: np.ndarray, crop_fractions: tuple[float, ...]) -> PhotoHashes:
    """The full hash (as `perceptual_hash`) and one hash per central crop."""
    grey = _hashing_grey(rgb)
    parts = [grey, *(central_crop(grey, fraction) for fraction in crop_fractions)]
    full, *crops = (PhotoHash(phash=phash(part), dhash=dhash(part)) for part in parts)
    return PhotoHashes(full=full, crops=tuple(crops))


class HashIndex:
    """Photo id -> hashes, answering "which stored photos are within `radius`?".

    Each photo keeps `hashes_per_photo` hashes (the full one, then its central crops); `query`
    and `distances` use the full hashes only, `nearest` every pairing that can show a crop.
    An id is stored once: adding it again replaces its hashes (in place, so it keeps its order
    among equally near photos), and no answer ever names a photo twice.
    """

    def __init__(self, capacity: int = 1024, *, hashes_per_photo: int = 1) -> None:
        if not 1 <= hashes_per_photo <= 1 + MAX_CROPS:
            raise ValueError(f"hashes_per_photo must be 1..{1 + MAX_CROPS}")
        # One contiguous row per hash kind: each scan below reads one row.
        self._phash = np.zeros((hashes_per_photo, max(1, capacity)), dtype=np.uint64)
        self._dhash = np.zeros((hashes_per_photo, max(1, capacity)), dtype=np.uint64)
        self._ids: list[str] = []
        self._column: dict[str, int] = {}  # id -> its column in the hash arrays

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def hashes_per_photo(self) -> int:
        return int(self._phash.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the hash arrays (ids are Python strings, counted apart)."""
        return int(self._phash.nbytes + self._dhash.nbytes)

    def _grow(self, needed: int) -> None:
        if needed <= self._phash.shape[1]:
            return
        capacity = max(needed, 2 * self._phash.shape[1])
        for name in ("_phash", "_dhash"):
            old = getattr(self, name)
            new = np.zeros((old.shape[0], capacity), dtype=np.uint64)
            new[:, : len(self._ids)] = old[:, : len(self._ids)]
            setattr(self, name, new)

    def add(self, photo_id: str, photo_hash: PhotoHash | PhotoHashes) -> None:
        if isinstance(photo_hash, PhotoHash):
            photo_hash = PhotoHashes(full=photo_hash)
        hashes = photo_hash.padded(self.hashes_per_photo)
        self.add_many(
            [photo_id],
            np.array([[h.phash for h in hashes]], dtype=np.uint64),
            np.array([[h.dhash for h in hashes]], dtype=np.uint64),
        )

    def add_many(self, photo_ids: list[str], phashes: np.ndarray, dhashes: np.ndarray) -> None:
        """Bulk insert: ids with their pHash and dHash as uint64 arrays of the same length.

        Arrays are (n,) full hashes, or (n, hashes_per_photo) full and crop hashes. An id
        already stored, or repeated in `photo_ids`, keeps the hashes given last.
        """
        phashes = np.asarray(phashes, dtype=np.uint64)
        dhashes = np.asarray(dhashes, dtype=np.uint64)
        if not len(photo_ids) == len(phashes) == len(dhashes):
            raise ValueError("photo_ids, phashes and dhashes must have the same length")
        if phashes.ndim == 1:  # full hashes only: the crop slots repeat them
            phashes, dhashes = phashes[:, None], dhashes[:, None]
        if phashes.shape[1] not in (1, self.hashes_per_photo) or phashes.shape != dhashes.shape:
            raise ValueError(f"expected (n,) or (n, {self.hashes_per_photo}) hash arrays")
        latest = dict(zip(photo_ids, range(len(photo_ids)), strict=True))  # the last row per id
        stored = [k for k in latest if k in self._column] if self._column else []
        if stored:  # replaced in place
            columns = np.fromiter((self._column[k] for k in stored), np.intp, len(stored))
            rows = np.fromiter((latest.pop(k) for k in stored), np.intp, len(stored))
            self._phash[:, columns] = phashes[rows].T
            self._dhash[:, columns] = dhashes[rows].T
        fresh = list(latest)
        if len(fresh) < len(photo_ids):
            rows = np.fromiter(latest.values(), np.intp, len(fresh))
            phashes, dhashes = phashes[rows], dhashes[rows]
        start, n = len(self._ids), len(fresh)
        self._grow(start + n)
        self._phash[:, start : start + n] = phashes.T
        self._dhash[:, start : start + n] = dhashes.T
        self._column.update(zip(fresh, range(start, start + n), strict=True))
        self._ids.extend(fresh)

    def _scan(self, row: int, photo_hash: PhotoHash) -> np.ndarray:
        n = len(self._ids)
        p = np.bitwise_count(self._phash[row, :n] ^ np.uint64(photo_hash.phash))
        p += np.bitwise_count(self._dhash[row, :n] ^ np.uint64(photo_hash.dhash))
        return p  # uint8 is wide enough: at most 128

    def distances(self, photo_hash: PhotoHash) -> np.ndarray:
        """Distance (uint8, 0..128) from `photo_hash` to every stored full hash, in order."""
        return self._scan(0, photo_hash)

    def _within(self, dist: np.ndarray, radius: int, limit: int | None) -> list[tuple[str, int]]:
        hits = np.flatnonzero(dist <= radius)
        order = hits[np.argsort(dist[hits], kind="stable")][:limit]
        return [(self._ids[i], int(dist[i])) for i in order]

    def query(self, photo_hash: PhotoHash, *, radius: int) -> list[tuple[str, int]]:
        """Stored photos within `radius` of the full hash, nearest first, as (id, distance)."""
        return self._within(self.distances(photo_hash), radius, None)

    def nearest(
        self, hashes: PhotoHashes, *, radius: int, limit: int | None = None
    ) -> list[tuple[str, int]]:
        """Stored photos within `radius` by `PhotoHashes.distance`, nearest first, at most `limit`.

        The query's full hash meets every stored hash (the query is a crop of a stored photo)
        and each query crop meets the stored full hashes (a stored photo is a crop of it).
        """
        dist = self._scan(0, hashes.full)
        for row in range(1, self.hashes_per_photo):
            np.minimum(dist, self._scan(row, hashes.full), out=dist)
        for crop in hashes.crops:
            np.minimum(dist, self._scan(0, crop), out=dist)
        return self._within(dist, radius, limit)

    def save(self, path: Path) -> None:
        """Write to exactly `path` (np.savez would add ".npz" to a path without it)."""
        n = len(self._ids)
        with Path(path).open("wb") as file:
            np.savez(
                file, ids=np.array(self._ids), phash=self._phash[:, :n], dhash=self._dhash[:, :n]
            )

    @classmethod
    def load(cls, path: Path) -> HashIndex:
        with np.load(path, allow_pickle=False) as data:
            phash, dhash = np.atleast_2d(data["phash"]), np.atleast_2d(data["dhash"])
            index = cls(capacity=len(data["ids"]), hashes_per_photo=phash.shape[0])
            index.add_many([str(x) for x in data["ids"]], phash.T, dhash.T)
        return index


def candidates(
    index: HashIndex,
    hashes: PhotoHashes,
    *,
    family_of: Callable[[str], str],
    family_id: str,
    config: HashingConfig,
    on_pixels: bool = False,
) -> list[tuple[str, int]]:
    """Other families' stored photos worth verifying as `hashes`' photo: within
    `candidate_radius`, nearest first, at most `max_candidates` (the service and the welfare
    study ask the same). No candidates for a blank frame's hash (not `informative`), unless
    `on_pixels`: the caller verifies every candidate on pixels (the service), which tells a
    blank wall from a cracked one, whose hash is no more informative (a thin crack barely
    moves the low frequencies); then only a hash under MIN_CANDIDATE_PHASH_BITS proposes
    none. `same_photo` still never lets a hash that is not informative decide alone."""
    bits = hashes.full.phash.bit_count()
    if not hashes.full.informative and not (on_pixels and bits >= MIN_CANDIDATE_PHASH_BITS):
        return []
    hits = index.nearest(hashes, radius=config.candidate_radius)
    return [(k, d) for k, d in hits if family_of(k) != family_id][: config.max_candidates]


def same_photo(
    a: PhotoHash,
    b: PhotoHash,
    features_a: ReuseFeatures | None,
    features_b: ReuseFeatures | None,
    config: HashingConfig,
) -> bool:
    """The verdict on a candidate pair: verified on pixels (vision.reuse); where either photo
    has no pixels to verify on (none at hand, or too small: `ReuseFeatures.verifiable`), the
    full hashes within `reuse_radius` decide, and only if both are `informative`."""
    if (
        features_a is None
        or features_b is None
        or not features_a.verifiable
        or not features_b.verifiable
    ):
        return a.informative and b.informative and a.distance(b) <= config.reuse_radius
    return verify(features_a, features_b, config.verification).same_photo
