"""Assessment repeats: whether an assessment counted the family's repeated photos as they are now.

A photo that repeats an earlier photo of the family (sent again re-encoded, resized or as a
screenshot) counts once (photo_evidence.family_flags), and each assessment records which of
its photos it counted as repeats (REPEATED_KEY). Other repeats now, or one made before they
were recorded while the family holds a repeat, make it stale (serving.assessments.stale_reason,
reason `repeats`): else the copy would keep counting as a photo of its own until the family's
photos or record changed.

Telling the repeats now verifies photos against the reuse index (`repeated_now`), so it is
asked last and only where needed (`repeats_asked`): reads ask it of an assessment made before
repeats were recorded (one that records them counted them from the photos, scores and links
checked before it), a refresh (serving.reassessment) of every one, as its dry run does. One
request flags the photos once (`FlagsMemo`), however many of its steps need them.

The family's own photos are indexed before they are flagged (`index_family`): a command's
index (`assessments refresh` builds one when it starts) lacks those the service filed since,
and a copy, which makes no reuse link, would else count as a photo of its own there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from functools import partial

from serving.db.models import Assessment, Family, Photo
from serving.photo_evidence import REPEATED_KEY, family_flags, photo_score
from serving.state import Services
from shanyraq.taxonomy import get_taxonomy
from welfare.aggregate import PhotoFlags

# How `stale_reason` asks for the photos' repeats, only once all else is current: it verifies
# them against the reuse index (`repeated_now`; None where it cannot tell).
Repeats = Callable[[], AbstractSet[int] | None]


class FlagsMemo:
    """The `family_flags` of a family's photos, computed once for one request: a read checks
    the family's latest assessment for repeats (`repeats_asked`), may check it again under the
    family's lock and recompute it (serving.assessments.compute), then says why it is stale;
    each step needs the flags, and flagging verifies photos against the reuse index.

    They are computed again only where the family's photos (ids, files, hashes, scores,
    quality verdicts) or the ids reuse links flag differ from those they were computed on: a
    photo filed or a link written meanwhile. Another family's upload changes the index, at
    any moment, as it may between any two steps of a request; one the index verifies as a
    photo of this family writes a link. The family's own photos are in the index when the
    flags are computed (`index_family`), so flags `assessments refresh` carries from finding
    a stale family to recomputing it are those a fresh assessment finds."""

    def __init__(self) -> None:
        self._kept: tuple[object, list[PhotoFlags]] | None = None

    def __call__(
        self, services: Services, family: Family, photos: list[Photo], *, linked: AbstractSet[int]
    ) -> list[PhotoFlags]:
        """`family_flags` of `photos` (oldest first, as `compute` reads them; `linked`: the
        ids reuse links flag), each photo's score read as `compute` reads it."""
        read = (
            family.id,
            [(p.id, p.sha256, p.perceptual_hash, p.score, p.quality) for p in photos],
            set(linked),
        )
        if self._kept is None or self._kept[0] != read:
            index_family(services, family, photos)
            taxonomy = get_taxonomy()
            scores = [photo_score(p, taxonomy) for p in photos]
            found = family_flags(services, family, photos, scores, linked=linked, taxonomy=taxonomy)
            self._kept = (read, found)
        return self._kept[1]


def index_family(services: Services, family: Family, photos: Sequence[Photo]) -> None:
    """Index those of the family's `photos` (rows read from the database: committed) that the
    reuse index lacks. The service's own holds each from its upload on; a command's holds the
    photos filed when it built it, and the service goes on filing meanwhile. A photo repeats
    only one the index holds (ReuseIndex.same_in_family), so a copy of a photo filed since
    would count as a photo of its own, and the assessment made or judged on it be another
    than the service's. Other families' photos filed since are told by the links their
    uploads wrote."""
    index = services.reuse
    if index is None:
        return
    for photo in photos:  # ReuseIndex.add keeps the entry of a photo it holds already
        if photo.perceptual_hash:
            index.add(
                photo.id, photo.perceptual_hash, family_id=family.id, region=family.region,
                sha256=photo.sha256,
            )  # fmt: skip


def repeated_now(
    services: Services,
    family: Family,
    photos: list[Photo],
    *,
    linked: AbstractSet[int],
    flags: Sequence[PhotoFlags] | FlagsMemo | None = None,
) -> set[int] | None:
    """The ids of the family's `photos` (as `compute` reads them) that `family_flags` flags
    repeated now, as a new assessment would count them (`linked`: the ids reuse links flag);
    None without a reuse index, which alone tells repeats apart. Only where two photos are
    near enough to be verified (`_near_pair`) are they verified against the index, as
    `compute` does (every score read, the index searched for each photo; verdicts cached).
    `flags`: those `family_flags` gave the caller for these `photos` and `linked` (a list page
    flags each row's photos), not computed again, or the request's `FlagsMemo`."""
    if services.reuse is None:
        return None
    if not _near_pair(photos, radius=services.reuse.config.candidate_radius):
        return set()  # no photo has another of the family among its candidates
    if flags is None or isinstance(flags, FlagsMemo):
        flags = (flags or FlagsMemo())(services, family, photos, linked=linked)
    return {p.id for p, f in zip(photos, flags, strict=True) if f.repeated}


def _near_pair(photos: list[Photo], *, radius: int) -> bool:
    """Whether two of `photos` have hashes within `radius` (PhotoHashes.distance, by which the
    reuse index finds the candidates it verifies): without such a pair none repeats another,
    told from the family's own hashes (under a millisecond for 8 photos), not the index."""
    from vision.hashing import PhotoHashes

    hashes = [PhotoHashes.from_hex(p.perceptual_hash) for p in photos if p.perceptual_hash]
    return any(a.distance(b) <= radius for i, a in enumerate(hashes) for b in hashes[i + 1 :])


def repeats_asked(
    services: Services,
    assessment: Assessment,
    family: Family,
    photos: list[Photo],
    reused: AbstractSet[int],
    *,
    recorded_too: bool = False,
    flags: Sequence[PhotoFlags] | FlagsMemo | None = None,
) -> Repeats | None:
    """`repeated` for `stale_reason` (`repeated_now` of `photos`; `reused`: the ids reuse links
    flag) where the assessment was made before REPEATED_KEY was recorded, or `recorded_too`
    (a refresh); None for one that records them: it counted them from the photos, scores and
    links checked before, and reads of it need not search the index again. `flags`: the
    photos' `family_flags` where the caller has them, or the request's `FlagsMemo`
    (`repeated_now`)."""
    if not recorded_too and REPEATED_KEY in assessment.model_versions:
        return None
    return partial(repeated_now, services, family, photos, linked=reused, flags=flags)
