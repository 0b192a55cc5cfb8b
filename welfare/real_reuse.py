"""Reuse flags for the real-score study, raised as the service raises them.

The service (serving/reuse_index.py) takes other families' photos whose reuse hashes (the full
pHash + dHash and its central crops, vision.hashing) lie within `candidate_radius`, at most
`max_candidates`, nearest first, and calls one reused only when vision.reuse verifies it on
pixels. Here the same steps run over every rendered photo of the study; a candidate's pixels
come from rendering it again (the generator is seeded per photo, so the pixels are the same).
Without pixels, the full hash within `reuse_radius` decides, as in the service.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vision.hashing import HashingConfig
    from vision.reuse import ReuseFeatures
    from welfare.real_scores import RealPhoto


def reuse_flags(
    photos: Sequence[RealPhoto],
    *,
    hashing: HashingConfig,
    pixels_of: Callable[[str], np.ndarray] | None,
    progress: bool = False,
) -> tuple[dict[str, bool], dict[str, int]]:
    """Per photo key: whether another family's photo is verified as the same photo; and counts
    (photos with candidates, candidate pairs, pairs verified as the same photo, photos
    flagged). A pair is counted once, whichever of its photos found the other."""
    from tqdm import tqdm

    from vision.hashing import HashIndex, PhotoHashes, candidates, same_photo
    from vision.reuse import features

    hashes = {p.key: PhotoHashes.from_hex(p.photo_hash) for p in photos}
    index = HashIndex(
        capacity=max(1, len(photos)), hashes_per_photo=1 + len(hashing.crop_fractions)
    )
    for key, h in hashes.items():
        index.add(key, h)
    owner = {p.key: p.family_id for p in photos}
    found: dict[str, ReuseFeatures] = {}
    verdicts: dict[tuple[str, str], bool] = {}

    def features_of(key: str) -> ReuseFeatures | None:
        if pixels_of is None:
            return None
        if key not in found:
            found[key] = features(pixels_of(key), hashing.verification)
        return found[key]

    def same(a: str, b: str) -> bool:
        pair = (a, b) if a < b else (b, a)
        if pair not in verdicts:
            verdicts[pair] = same_photo(
                hashes[a].full, hashes[b].full, features_of(a), features_of(b), hashing
            )
        return verdicts[pair]

    flags: dict[str, bool] = {}
    with_candidates = 0
    for p in tqdm(photos, desc="reuse check", disable=not progress):
        hits = candidates(
            index, hashes[p.key], family_of=owner.__getitem__, family_id=p.family_id,
            config=hashing,
        )  # fmt: skip
        others = [k for k, _ in hits]
        with_candidates += bool(others)
        # Every candidate, not up to the first match: the counts are then of every candidate
        # pair (as the service verifies each), not of those an earlier match left unchecked.
        flags[p.key] = any([same(p.key, k) for k in others])
    counts = {
        "photos_with_candidates": with_candidates,
        "candidate_pairs": len(verdicts),
        "verified_pairs": sum(verdicts.values()),
        "photos_flagged": sum(flags.values()),
    }
    return flags, counts


def reuse_description(hashing: HashingConfig, counts: dict[str, int]) -> str:
    """One line for reports: how reuse was checked, and what it found."""
    return (
        f"hash candidates within {hashing.candidate_radius} bits (full and central-crop "
        f"hashes), at most {hashing.max_candidates} per photo, verified on pixels: "
        f"{counts['candidate_pairs']:,} candidate pairs, {counts['verified_pairs']:,} verified, "
        f"{counts['photos_flagged']:,} photos flagged"
    )
