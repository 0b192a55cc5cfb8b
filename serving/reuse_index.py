"""The service's reuse index: every filed photo's hashes, candidates verified on stored pixels.

The same photo filed for two families is a fraud signal for the commission. Candidates come
from perceptual hashes (vision.hashing); each is verified on pixels (vision.reuse) against
the stored photo. In process memory: one service process holds one index, rebuilt from the
database at start (serving.app).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from shanyraq.errors import ShanyraqError

if TYPE_CHECKING:
    import numpy as np

    from vision.hashing import HashingConfig, PhotoHash
    from vision.reuse import ReuseFeatures

logger = logging.getLogger(__name__)

# Roles that may see which other families hold a near-identical photo (privacy of others).
REUSE_DETAIL_ROLES = frozenset({"commission", "admin"})


@dataclass(frozen=True)
class _Indexed:
    family_id: str
    region: str
    sha256: str | None  # where the stored photo's pixels are; None: not verifiable
    full: PhotoHash


@dataclass(frozen=True)
class _Query:
    sha256: str | None
    pixels: np.ndarray | None
    full: PhotoHash


class _Lru(OrderedDict[Any, Any]):
    """A dict that forgets its least recently used entries beyond `size`."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_recent(self, key: Any) -> Any:
        if key not in self:
            return None
        self.move_to_end(key)
        return self[key]

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class ReuseIndex:
    """Reuse hashes of every filed photo with its family and region; thread-safe.

    Candidates come from the hash index (`candidate_radius`, at most `max_candidates` other
    families' photos, nearest first); each is verified on pixels (vision.reuse) against the
    stored photo, read through `load_pixels(sha256)`. Verdicts per pair and features per photo
    are cached by content (sha256), so a family page re-reads nothing and a photo id that a
    failed transaction gave back cannot inherit them. Where pixels cannot be had (no loader, a
    missing file), a candidate counts when its full hash is within `reuse_radius`.
    """

    def __init__(
        self, *, config: HashingConfig, load_pixels: Callable[[str], np.ndarray] | None = None
    ) -> None:
        from vision.hashing import HashIndex

        self.config = config
        self._index = HashIndex(hashes_per_photo=1 + len(config.crop_fractions))
        self._photos: dict[str, _Indexed] = {}
        self._by_hex: dict[str, list[str]] = {}
        self._verdicts = _Lru(config.verdict_cache)
        self._features = _Lru(config.feature_cache)
        self._load_pixels = load_pixels
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._photos)

    def add(
        self, photo_id: int, hex_hash: str, *, family_id: str, region: str, sha256: str | None
    ) -> None:
        """Index a photo whose row is committed (never before: no phantom matches)."""
        from vision.hashing import PhotoHashes

        hashes = PhotoHashes.from_hex(hex_hash)
        with self._lock:
            if str(photo_id) in self._photos:
                return
            self._index.add(str(photo_id), hashes)
            self._photos[str(photo_id)] = _Indexed(family_id, region, sha256, hashes.full)
            self._by_hex.setdefault(hex_hash, []).append(str(photo_id))

    def matches(
        self,
        hex_hash: str,
        *,
        family_id: str,
        viewer_role: str,
        viewer_region: str | None,
        sha256: str | None = None,
        pixels: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """Verified photos of *other* families; ids only for roles allowed to see.

        `sha256` (and the `pixels`, when at hand) name the photo asked about; without it the
        photo is found by its exact hex among the family's indexed photos.
        """
        from vision.hashing import PhotoHashes, candidates

        hashes = PhotoHashes.from_hex(hex_hash)
        with self._lock:
            hits = candidates(
                self._index, hashes, family_of=lambda pid: self._photos[pid].family_id,
                family_id=family_id, config=self.config,
            )  # fmt: skip
            others = [(pid, d, self._photos[pid]) for pid, d in hits]
            if sha256 is None:
                own = [self._photos[p] for p in self._by_hex.get(hex_hash, [])]
                sha256 = next((p.sha256 for p in own if p.family_id == family_id), None)
        query = _Query(sha256, pixels, hashes.full)
        found = [(pid, dist, owner) for pid, dist, owner in others if self._same(query, owner)]
        details = []
        if viewer_role in REUSE_DETAIL_ROLES:
            for pid, dist, owner in found:
                if viewer_region is None or viewer_region == owner.region:
                    details.append(
                        {"photo_id": int(pid), "family_id": owner.family_id, "distance": dist}
                    )
                else:  # another region's family: the match is counted, not named
                    details.append({"photo_id": None, "family_id": None, "distance": dist})
        return {"reused": bool(found), "matches": len(found), "details": details}

    def _same(self, query: _Query, owner: _Indexed) -> bool:
        """Whether the candidate is the same photo: cached, same bytes, pixels, or full hash."""
        from vision.hashing import same_photo

        key = tuple(sorted((query.sha256, owner.sha256))) if query.sha256 and owner.sha256 else None
        with self._lock:
            cached = self._verdicts.get_recent(key) if key else None
        if cached is not None:
            return bool(cached)
        if query.sha256 is not None and query.sha256 == owner.sha256:
            same = True  # the very same bytes
        else:
            mine = self._features_of(query.sha256, query.pixels)
            theirs = self._features_of(owner.sha256, None)
            same = same_photo(query.full, owner.full, mine, theirs, self.config)
            if mine is None or theirs is None:  # the full hash decided: pixels may come back
                return same
        if key:
            with self._lock:
                self._verdicts.put(key, same)
        return same

    def _features_of(self, sha256: str | None, pixels: np.ndarray | None) -> ReuseFeatures | None:
        from vision.reuse import features

        with self._lock:
            cached = self._features.get_recent(sha256) if sha256 else None
        if cached is not None:
            return cast("ReuseFeatures", cached)
        if pixels is None:
            if sha256 is None or self._load_pixels is None:
                return None
            try:
                pixels = self._load_pixels(sha256)
            except (ShanyraqError, OSError):
                logger.warning("photo %s: stored pixels unreadable, reuse not verified", sha256)
                return None
        found = features(pixels, self.config.verification)
        if sha256:
            with self._lock:
                self._features.put(sha256, found)
        return found
