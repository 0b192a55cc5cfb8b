"""Family-grouped, label-stratified train/val/test splits, deterministic for a seed."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Sequence

from shanyraq.manifest import SPLITS, ManifestRow


def same_family(family_id: str) -> str:
    """The family an id names: ids differing only in case or surrounding space are one home
    typed two ways, and the manifest reader strips the spaces, so splitting them apart would
    leak that home's photos across splits."""
    return family_id.strip().casefold()


def _family_key(rows: Sequence[ManifestRow], by: str) -> str:
    """The label a family is stratified on: its most common value of `by`."""
    values = [str(getattr(r, by)) for r in rows if getattr(r, by) is not None]
    if not values:
        return "unlabelled"
    counts = Counter(values)
    return max(sorted(counts), key=lambda v: counts[v])


def split_rows(
    rows: Sequence[ManifestRow],
    *,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    by: str = "condition",
    seed: int = 0,
) -> list[ManifestRow]:
    """Assign every row a split so that a family's photos share one split (ids differing
    only in case or surrounding space count as one family).

    Families are grouped into strata by their most common `by` label (room or condition);
    each stratum is shuffled with `seed` and cut by `fractions` (train, val, test), so
    every split sees each label in about the same proportion.
    """
    if len(fractions) != len(SPLITS) or not all(math.isfinite(f) and f >= 0 for f in fractions):
        raise ValueError(
            f"fractions must be {len(SPLITS)} finite, non-negative numbers "
            f"({', '.join(SPLITS)}); got {tuple(fractions)}"
        )
    total = sum(fractions)
    if total <= 0:
        raise ValueError("fractions must not all be zero")
    if by not in ("room", "condition"):
        raise ValueError("stratify by 'room' or 'condition'")
    families: dict[str, list[ManifestRow]] = defaultdict(list)
    for row in rows:
        families[same_family(row.family_id)].append(row)
    strata: dict[str, list[str]] = defaultdict(list)
    # In order of each family's smallest id as written (not the row order, not the folded
    # key), so ids without case or space variants split as they always have for a seed.
    for family in sorted(families, key=lambda f: min(r.family_id for r in families[f])):
        strata[_family_key(families[family], by)].append(family)
    rng = random.Random(seed)
    split_of: dict[str, str] = {}
    carry = [0.0] * len(SPLITS)  # rounding left over, carried across strata
    for key in sorted(strata):
        members = strata[key]
        rng.shuffle(members)
        counts = _largest_remainder(len(members), [f / total for f in fractions], carry)
        start = 0
        for split, count in zip(SPLITS, counts, strict=True):
            for family_id in members[start : start + count]:
                split_of[family_id] = split
            start += count
    return [row.with_split(split_of[same_family(row.family_id)]) for row in rows]


def _largest_remainder(n: int, shares: Sequence[float], carry: list[float]) -> list[int]:
    exact = [n * s + c for s, c in zip(shares, carry, strict=True)]
    counts = [int(e) for e in exact]
    order = sorted(range(len(exact)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    for i in range(len(carry)):
        carry[i] = exact[i] - counts[i]
    return counts
