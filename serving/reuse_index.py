"""The service's reuse index: every filed photo's hashes, candidates verified on stored pixels.

The same photo filed for two families is a fraud signal for the commission. Candidates come
from perceptual hashes (vision.hashing); each is verified on pixels (vision.reuse) against
the stored photo. In process memory: one service process holds one index, rebuilt from the
database at start (serving.app). The same photo sent twice for one family is no fraud signal,
but its evidence must count once: `same_in_family` finds it the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from serving.reuse_verify import PixelVerifier

if TYPE_CHECKING:
    import numpy as np

    from vision.hashing import HashingConfig, PhotoHash, PhotoHashes

# Roles that may see which other families hold a near-identical photo (privacy of others).
REUSE_DETAIL_ROLES = frozenset({"commission", "admin"})


@dataclass(frozen=True)
class _Indexed:
    family_id: str
    region: str
    sha256: str | None  # where the stored photo's pixels are; None: not verifiable
    full: PhotoHash
    # An in-flight photo's decoded pixels: verified on these, its file may not be stored yet.
    pixels: np.ndarray | None = field(default=None, compare=False)


@dataclass(frozen=True, eq=False)
class InFlight:
    """An upload's photo, in the index from before its own reuse check until filed or failed."""

    hex_hash: str
    hashes: PhotoHashes
    owner: _Indexed


@dataclass(frozen=True)
class _Query:
    sha256: str | None
    pixels: np.ndarray | None
    full: PhotoHash


@dataclass(frozen=True)
class ReuseMatch:
    """Another family's photo verified as the same photo. Internal: never shown as it is."""

    photo_id: int | None  # None: an upload still in flight
    family_id: str
    region: str
    sha256: str | None
    distance: int  # full perceptual hash, bits


def shaped(
    found: list[ReuseMatch], *, viewer_role: str, viewer_region: str | None
) -> dict[str, Any]:
    """What `viewer_role` may learn of `found`: how many, always; which photos and families
    only for REUSE_DETAIL_ROLES, and of another region's family the count alone."""
    details = []
    if viewer_role in REUSE_DETAIL_ROLES:
        for match in found:
            if viewer_region is None or viewer_region == match.region:
                details.append(
                    {
                        "photo_id": match.photo_id,  # None: in flight
                        "family_id": match.family_id,
                        "distance": match.distance,
                    }
                )
            else:  # another region's family: the match is counted, not named
                details.append({"photo_id": None, "family_id": None, "distance": match.distance})
    return {"reused": bool(found), "matches": len(found), "details": details}


class ReuseIndex:
    """Reuse hashes of every filed photo with its family and region; thread-safe.

    Candidates come from the hash index (`candidate_radius`, at most `max_candidates` other
    families' photos, nearest first); each is verified on pixels (vision.reuse) against the
    stored photo, read through `load_pixels(sha256)` (serving.reuse_verify: verdicts per pair
    and features per photo are cached by content (sha256), so a family page re-reads nothing
    and a photo id that a failed transaction gave back cannot inherit them). Where pixels
    cannot be had or cannot verify (no loader, a missing file, a photo too small for
    keypoints), a candidate counts when its full hash is within `reuse_radius` - never a blank
    frame's (vision.hashing). A hash that is not informative (a thin crack on a plain wall, as a
    blank frame) still proposes candidates, unless it is flat in all its low frequencies: pixels
    decide them, never its hash.

    Uploads register *in flight* (`in_flight`) before their own check, so two simultaneous
    uploads of one photo for different families see each other: the one whose check runs
    second always flags the first; the first flags the second only if the second registered
    before the first's check ran. A match on an in-flight photo has no photo id yet.
    """

    def __init__(
        self, *, config: HashingConfig, load_pixels: Callable[[str], np.ndarray] | None = None
    ) -> None:
        from vision.hashing import HashIndex

        self.config = config
        self._index = HashIndex(hashes_per_photo=1 + len(config.crop_fractions))
        self._photos: dict[str, _Indexed] = {}
        self._by_hex: dict[str, list[str]] = {}
        self._in_flight: dict[InFlight, None] = {}  # registration order
        self._verifier = PixelVerifier(config, load_pixels)
        self.unreadable = self._verifier.unreadable  # stored files whose last read failed
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._photos)

    def add(
        self, photo_id: int, hex_hash: str, *, family_id: str, region: str, sha256: str | None
    ) -> None:
        """Index a photo whose row is committed (never before: no phantom matches); one it
        holds already is left as it is, its hashes not even parsed (assessment_repeats)."""
        from vision.hashing import PhotoHashes

        if str(photo_id) in self._photos:  # checked again under the lock by _add_locked
            return
        hashes = PhotoHashes.from_hex(hex_hash)
        with self._lock:
            self._add_locked(
                photo_id, hex_hash, hashes, _Indexed(family_id, region, sha256, hashes.full)
            )

    @contextmanager
    def in_flight(
        self,
        hex_hash: str,
        *,
        family_id: str,
        region: str,
        sha256: str | None,
        pixels: np.ndarray | None = None,
    ) -> Iterator[InFlight]:
        """Register an upload's photo before its reuse check; gone again on leaving the block.

        While registered, other families' `matches` count it (verified on `pixels`, or on the
        stored file named by `sha256`), with no photo id. `commit(token, photo_id)` once its row
        is committed makes it an indexed photo; leaving without that (an exception, a failed
        commit, the family already had these bytes) leaves nothing of it behind.
        """
        from vision.hashing import PhotoHashes

        hashes = PhotoHashes.from_hex(hex_hash)
        token = InFlight(hex_hash, hashes, _Indexed(family_id, region, sha256, hashes.full, pixels))
        with self._lock:
            self._in_flight[token] = None
        try:
            yield token
        finally:
            with self._lock:
                self._in_flight.pop(token, None)

    def commit(self, token: InFlight, photo_id: int) -> None:
        """The in-flight photo's row is committed: index it under `photo_id`, in one step."""
        indexed = replace(token.owner, pixels=None)  # filed: verified on its stored file
        with self._lock:
            self._in_flight.pop(token, None)
            self._add_locked(photo_id, token.hex_hash, token.hashes, indexed)

    def _add_locked(
        self, photo_id: int, hex_hash: str, hashes: PhotoHashes, indexed: _Indexed
    ) -> None:
        if str(photo_id) in self._photos:
            return
        self._index.add(str(photo_id), hashes)
        self._photos[str(photo_id)] = indexed
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
        in_flight: bool = False,
    ) -> dict[str, Any]:
        """Verified photos of *other* families (`verified`), as `viewer_role` may see them
        (`shaped`): ids only for roles allowed to see."""
        found = self.verified(
            hex_hash, family_id=family_id, sha256=sha256, pixels=pixels, in_flight=in_flight
        )
        return shaped(found, viewer_role=viewer_role, viewer_region=viewer_region)

    def verified(
        self,
        hex_hash: str,
        *,
        family_id: str,
        sha256: str | None = None,
        pixels: np.ndarray | None = None,
        in_flight: bool = False,
    ) -> list[ReuseMatch]:
        """Photos of *other* families verified as the same photo, nearest first; for the
        service's own use (`shaped` decides what a viewer learns of them).

        `sha256` (and the `pixels`, when at hand) name the photo asked about; without it the
        photo is found by its exact hex among the family's indexed photos. `in_flight`: also
        other uploads not yet committed (the upload's own answer); an in-flight match has
        `photo_id` None. Without it only filed photos count, so a stored assessment or a page
        never names a photo whose commit may still fail.
        """
        from vision.hashing import PhotoHashes, candidates

        hashes = PhotoHashes.from_hex(hex_hash)
        with self._lock:
            hits = candidates(
                self._index, hashes, family_of=lambda pid: self._photos[pid].family_id,
                family_id=family_id, config=self.config, on_pixels=True,
            )  # fmt: skip
            others: list[tuple[str | None, int, _Indexed]] = [
                (pid, d, self._photos[pid]) for pid, d in hits
            ]
            if in_flight:
                others += self._in_flight_candidates(hashes, family_id)
                others = sorted(others, key=lambda hit: hit[1])[: self.config.max_candidates]
            if sha256 is None:
                own = [self._photos[p] for p in self._by_hex.get(hex_hash, [])]
                sha256 = next((p.sha256 for p in own if p.family_id == family_id), None)
        query = _Query(sha256, pixels, hashes.full)
        return [
            ReuseMatch(
                photo_id=int(pid) if pid is not None else None,
                family_id=owner.family_id,
                region=owner.region,
                sha256=owner.sha256,
                distance=dist,
            )
            for pid, dist, owner in others
            if self._verifier.same(query, owner)
        ]

    def same_in_family(
        self,
        hex_hash: str,
        *,
        family_id: str,
        sha256: str | None,
        among: AbstractSet[int],
        pixels: np.ndarray | None = None,
    ) -> list[int]:
        """Of the family's filed photos `among` (ids), those verified as the same photo as
        this one (its `hex_hash`, its stored file `sha256`, and its `pixels` when at hand: an
        upload's, as `verified` takes them), nearest first: the candidate search and the
        verification of `verified`, with its thresholds, inside one family.

        Not reuse: a family's photo sent again (re-encoded, resized, a screenshot) is no fraud
        signal, only evidence already in (welfare.aggregate counts it once).
        """
        from vision.hashing import PhotoHashes

        hashes = PhotoHashes.from_hex(hex_hash)
        owners = self._candidates_among(
            hashes, lambda pid: int(pid) in among and self._photos[pid].family_id == family_id
        )
        query = _Query(sha256, pixels, hashes.full)
        return [pid for pid, owner in owners if self._verifier.same(query, owner)]

    def has_family_candidate(self, hex_hash: str, *, family_id: str, before: int | None) -> bool:
        """Whether any indexed photo of the family (of an id under `before`, when given) is a
        candidate for this one (`same_in_family`'s search), from the hash index alone: nothing
        read, nothing verified. Where none is, `same_in_family` finds none among them."""
        from vision.hashing import PhotoHashes

        def asked(pid: str) -> bool:
            filed_before = before is None or int(pid) < before
            return filed_before and self._photos[pid].family_id == family_id

        return bool(self._candidates_among(PhotoHashes.from_hex(hex_hash), asked))

    def _candidates_among(
        self, hashes: PhotoHashes, asked: Callable[[str], bool]
    ) -> list[tuple[int, _Indexed]]:
        """The indexed photos `asked` (id) that are candidates for `hashes`, nearest first."""
        from vision.hashing import candidates

        with self._lock:
            # `candidates` keeps the photos whose group differs from the one it is given: here
            # the photos asked about, so its radius, cut and blank-frame rule hold as they are.
            hits = candidates(
                self._index, hashes, family_of=lambda pid: "asked" if asked(pid) else "",
                family_id="", config=self.config, on_pixels=True,
            )  # fmt: skip
            return [(int(pid), self._photos[pid]) for pid, _ in hits]

    def _in_flight_candidates(
        self, hashes: PhotoHashes, family_id: str
    ) -> list[tuple[str | None, int, _Indexed]]:
        """Other families' in-flight photos within `candidate_radius`; the caller holds the lock.

        Bytes their family has already filed, or that are in flight twice, count once.
        """
        seen: set[tuple[str, str]] = set()
        found: list[tuple[str | None, int, _Indexed]] = []
        for token in self._in_flight:
            owner = token.owner
            dist = hashes.distance(token.hashes)
            if owner.family_id == family_id or dist > self.config.candidate_radius:
                continue
            if owner.sha256 is not None:
                key = (owner.family_id, owner.sha256)
                filed = (self._photos[p] for p in self._by_hex.get(token.hex_hash, []))
                if key in seen or any((p.family_id, p.sha256) == key for p in filed):
                    continue
                seen.add(key)
            found.append((None, dist, owner))
        return found
