"""The reuse links of filed photos, as an assessment and a page read them: for each photo a
link names, on either side, the other family's photo on its other side (`reuse_links_of`);
a family's photos read with their links once for a page view (`read_inputs`); and a photo's
reuse as a viewer may see it (`reuse_shown`). serving.uploads writes a link when a later
upload for another family is verified as the same photo, and serving.photo_evidence flags a
photo reused where a link names it or the reuse index verifies it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CompoundSelect, and_, select, union_all
from sqlalchemy.orm import Session, aliased

from serving.db.models import Family, Photo, ReuseLink
from serving.reuse_index import ReuseMatch, shaped
from serving.state import Services

# Families per links query: two IN lists of this many ids at most, whatever their photos
# (PostgreSQL takes at most 65535 parameters a statement, SQLite 32766).
_FAMILIES_PER_QUERY = 500


def reuse_links_of(session: Session, photos: Iterable[Photo]) -> dict[int, list[ReuseMatch]]:
    """For each of `photos` that a reuse link names, on either side, the photos on the other
    side of its links that exist (a link counts only while both photos do), nearest first.

    Asked by family, not by photo id: one query per _FAMILIES_PER_QUERY families, each half
    of it on an index (links of the families' photos; links naming the families)."""
    wanted = {p.id: p.family_id for p in photos}
    families = sorted(set(wanted.values()))
    found: dict[int, dict[int, ReuseMatch]] = {}
    for start in range(0, len(families), _FAMILIES_PER_QUERY):
        chunk = families[start : start + _FAMILIES_PER_QUERY]
        for row in session.execute(_links_touching(chunk)):
            first, second, distance = tuple(row[:4]), tuple(row[4:8]), int(row[8])
            for mine, other in ((first, second), (second, first)):
                if mine[0] not in wanted:
                    continue
                matches = found.setdefault(mine[0], {})
                known = matches.get(other[0])
                if known is None or distance < known.distance:  # linked both ways: nearest
                    matches[other[0]] = ReuseMatch(
                        photo_id=other[0], family_id=other[1], region=other[2],
                        sha256=other[3], distance=distance,
                    )  # fmt: skip
    return {
        photo_id: sorted(matches.values(), key=lambda m: m.distance)
        for photo_id, matches in found.items()
    }


def _links_touching(family_ids: list[str]) -> CompoundSelect:
    """The links whose photo, or whose other photo, is one of these families': both photos'
    (id, family, region, sha256) and the distance."""
    mine, other = aliased(Photo), aliased(Photo)
    mine_family, other_family = aliased(Family), aliased(Family)
    columns = (
        mine.id, mine.family_id, mine_family.region, mine.sha256,
        other.id, other.family_id, other_family.region, other.sha256, ReuseLink.distance,
    )  # fmt: skip
    both = (
        select(*columns)
        .select_from(ReuseLink)
        .join(mine, mine.id == ReuseLink.photo_id)
        .join(
            other,
            and_(
                other.family_id == ReuseLink.other_family_id,
                other.sha256 == ReuseLink.other_sha256,
            ),
        )
        .join(mine_family, mine_family.id == mine.family_id)
        .join(other_family, other_family.id == other.family_id)
    )
    return union_all(
        both.where(mine.family_id.in_(family_ids)),
        both.where(ReuseLink.other_family_id.in_(family_ids)),
    )


@dataclass(frozen=True)
class Inputs:
    """A family's photos as an assessment reads them (oldest first), and the other photos
    the reuse links naming them name (`reuse_links_of`): read once for a whole page view."""

    photos: list[Photo]
    links: dict[int, list[ReuseMatch]]

    @property
    def reused(self) -> set[int]:
        """The ids of the photos reuse links flag (`reuse_linked`)."""
        return set(self.links)


def read_inputs(session: Session, family_id: str) -> Inputs:
    photos = list(
        session.execute(select(Photo).where(Photo.family_id == family_id).order_by(Photo.id))
        .scalars()
        .all()
    )
    return Inputs(photos=photos, links=reuse_links_of(session, photos))


def reuse_linked(session: Session, photos: Iterable[Photo]) -> set[int]:
    """The ids of `photos` that a reuse link names, on either side, while the photo on its
    other side exists (`reuse_links_of`)."""
    return set(reuse_links_of(session, photos))


def reuse_shown(
    services: Services,
    photo: Photo,
    linked: Sequence[ReuseMatch],
    *,
    viewer_role: str,
    viewer_region: str | None,
) -> dict[str, Any]:
    """The photo's reuse as a viewer may see it (reuse_index.shaped): the other families'
    photos the index verifies as the same, and those its reuse links name (`linked`, from
    `reuse_links_of`), as an assessment counts them (`photo_flags`): a link flags the photo
    even where the index does not verify the pair now (none loaded, or another verdict on the
    stored pixels after a restart)."""
    found: list[ReuseMatch] = []
    if services.reuse is not None and photo.perceptual_hash is not None:
        found = services.reuse.verified(
            photo.perceptual_hash, family_id=photo.family_id, sha256=photo.sha256
        )
    named = {m.photo_id for m in found}
    found += [m for m in linked if m.photo_id not in named]
    found.sort(key=lambda m: m.distance)
    return shaped(found, viewer_role=viewer_role, viewer_region=viewer_region)
