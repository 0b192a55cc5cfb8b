"""Whether a reuse candidate is the same photo: verified on pixels, cached by content.

The reuse index (serving.reuse_index) finds candidates from hashes; this decides each on the
photos' pixels (vision.reuse), read from the store where not at hand, and caches verdicts per
pair and features per photo by content (sha256). Apart from the index because it needs nothing
of it (no family, region or photo id): only the two photos' files, pixels and full hashes.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

from serving.reuse_unreadable import UnreadableFiles
from shanyraq.errors import ShanyraqError

if TYPE_CHECKING:
    import numpy as np

    from vision.hashing import HashingConfig, PhotoHash
    from vision.reuse import ReuseFeatures

# The index's log: operators look there for "stored pixels unreadable" (serving.metrics).
logger = logging.getLogger("serving.reuse_index")


class Verifiable(Protocol):
    """A photo as verification needs it: its stored file, its pixels when at hand, its hash."""

    @property
    def sha256(self) -> str | None: ...  # where its stored pixels are; None: not verifiable

    @property
    def pixels(self) -> np.ndarray | None: ...  # decoded pixels at hand (an upload's)

    @property
    def full(self) -> PhotoHash: ...


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


class PixelVerifier:
    """Same-photo verdicts on pixels, read through `load_pixels(sha256)`; thread-safe.

    Verdicts per pair and features per photo are cached by content (sha256), so a family page
    re-reads nothing and a photo id that a failed transaction gave back cannot inherit them.
    Where pixels cannot be had or cannot verify (no loader, a missing file, a photo too small
    for keypoints), the full hashes decide (vision.hashing.same_photo), and that verdict is not
    cached: the pixels may come back.
    """

    def __init__(
        self, config: HashingConfig, load_pixels: Callable[[str], np.ndarray] | None = None
    ) -> None:
        self.config = config
        self._verdicts = _Lru(config.verdict_cache)
        self._features = _Lru(config.feature_cache)
        self._load_pixels = load_pixels
        self.unreadable = UnreadableFiles()  # stored files whose last read failed
        self._lock = threading.Lock()

    def same(self, query: Verifiable, owner: Verifiable) -> bool:
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
            theirs = self._features_of(owner.sha256, owner.pixels)
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
            except (ShanyraqError, OSError):  # uncached: a restored file is verified again
                if self.unreadable.failed(sha256):  # once, not at every check while it stays so
                    logger.warning("photo %s: stored pixels unreadable, reuse not verified", sha256)
                return None
            self.unreadable.read(sha256)
        found = features(pixels, self.config.verification)
        if sha256:
            with self._lock:
                self._features.put(sha256, found)
        return found
