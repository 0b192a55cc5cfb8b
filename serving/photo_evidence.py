"""What an assessment reads of each photo: its score, and its quality and reuse flags.

A photo stored without a score (UNSCORED) is present but unusable (`photo_score`). A photo is
reused when a reuse link names it (`reuse_linked`: serving.uploads writes one when a later
upload for another family is verified as the same photo) or when the reuse index verifies
another family's filed photo as the same (`photo_flags`; photos filed before links were
written have none). A page shows a photo's reuse the same way (`reuse_shown`), from the
family's photos and links read once (`read_inputs`). A photo that repeats an earlier photo of
its own family already counted (sent again re-encoded, resized, as a screenshot) is flagged
`repeated` (`family_flags`), so its evidence counts once; it is no reuse. An upload's answer
names the photos it repeats (`repeats_of`), found the same way, as do a filed photo's view
(`filed_repeats`) and the family's photo list (`listed_repeats`). The reuse links themselves
are read by serving.reuse_links.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from serving.db.models import Assessment, Family, Photo
from serving.db.session import session_scope
from serving.reuse_links import read_inputs, reuse_linked
from serving.state import Services
from shanyraq.taxonomy import Taxonomy, get_taxonomy
from vision.score import ABSTAIN_LOW_CONFIDENCE, ABSTAIN_NOT_DWELLING, ABSTAIN_QUALITY, PhotoScore
from welfare.aggregate import PhotoFlags, has_finite_probabilities, usable

# A photo stored without a score: uploaded while the service had no photo model (model_dir
# empty), and not scored since by a promoted re-scoring (`rescore promote` keeps a photo's old
# score, here none, when the new model could not score it: original missing, damaged or
# undecodable). In an assessment it is an abstaining photo with this abstain reason, and
# this stands for its photo model in `model_versions["vision"]`.
UNSCORED = "unscored"
# In what an assessment rests on (its model_versions, beside serving.assessments.REUSED_KEY):
# the ids of the photos it counted as repeats of an earlier photo of the family (`family_flags`),
# comma-separated ("" for none); absent from those made before repeats were told apart.
REPEATED_KEY = "repeated_photos"


def photo_score(photo: Photo, taxonomy: Taxonomy) -> PhotoScore:
    """The photo's stored score; for a photo without one (UNSCORED), an abstaining score that
    claims nothing: flat room and condition distributions, no signs, abstain reason UNSCORED.
    welfare.aggregate counts it as a photo (abstained), never as a usable one, so it cannot
    stand as evidence and it cannot go missing from the photo doubts."""
    if photo.score:
        return PhotoScore.from_dict(photo.score)
    rooms, grades = taxonomy.room_names, taxonomy.condition_values
    return PhotoScore(
        photo_sha256=photo.sha256, model_version=UNSCORED,
        room=dict.fromkeys(rooms, 1 / len(rooms)),
        condition=dict.fromkeys(grades, 1 / len(grades)), signs={},
        embedding=np.zeros(0, dtype=np.float32), abstain=True, abstain_reasons=(UNSCORED,),
    )  # fmt: skip


def photo_flags(services: Services, photo: Photo, family: Family, *, linked: bool) -> PhotoFlags:
    """The photo's quality verdict, and whether it is reused: `linked` by a reuse link, or
    verified by the reuse index (photos filed before links were written have none)."""
    quality = (photo.quality or {}).get("status", "pass")
    reused = linked
    if not reused and services.reuse is not None and photo.perceptual_hash:
        found = services.reuse.verified(
            photo.perceptual_hash, family_id=family.id, sha256=photo.sha256
        )
        reused = bool(found)
    return PhotoFlags(quality_status=quality, reused=reused)


def family_flags(
    services: Services,
    family: Family,
    photos: Sequence[Photo],
    scores: Sequence[PhotoScore],
    *,
    linked: AbstractSet[int],
    taxonomy: Taxonomy,
) -> list[PhotoFlags]:
    """Each of the family's photos' flags (`photo_flags`; `photos` oldest first, `scores`
    aligned, `linked`: the ids reuse links flag), a photo `repeated` when the reuse index
    verifies it as an earlier photo of the family that counts (ReuseIndex.same_in_family).

    Only a photo that would be usable is a repeat, and only of one that counts (usable, or
    itself a repeat of one that does): a retake after a failed photo is used, and of one
    photo sent three times the first counts. Without a reuse index nothing is a repeat."""
    found = _flagged(services, family, photos, scores, linked=linked, taxonomy=taxonomy)
    return [flags for flags, _ in found]


def _flagged(
    services: Services,
    family: Family,
    photos: Sequence[Photo],
    scores: Sequence[PhotoScore],
    *,
    linked: AbstractSet[int],
    taxonomy: Taxonomy,
) -> list[tuple[PhotoFlags, list[int]]]:
    """`family_flags`, each with the ids of the earlier photos counted there that the reuse
    index verifies as the same photo (`_same_as_counted`): empty for a photo no repeat."""
    counted: set[int] = set()
    found: list[tuple[PhotoFlags, list[int]]] = []
    for photo, score in zip(photos, scores, strict=True):
        flags = photo_flags(services, photo, family, linked=photo.id in linked)
        same: list[int] = []
        if usable(score, flags, taxonomy):
            same = _same_as_counted(
                services, family.id, photo.perceptual_hash, photo.sha256, counted=counted
            )
            flags = replace(flags, repeated=bool(same))
            counted.add(photo.id)
        found.append((flags, same))
    return found


def _same_as_counted(
    services: Services,
    family_id: str,
    hex_hash: str | None,
    sha256: str,
    *,
    counted: AbstractSet[int],
    pixels: np.ndarray | None = None,
) -> list[int]:
    """Of the family's photos that count (`counted`, ids), those the reuse index verifies as
    the same photo as this one (ReuseIndex.same_in_family); none without an index or a hash."""
    if not counted or services.reuse is None or not hex_hash:
        return []
    return services.reuse.same_in_family(
        hex_hash, family_id=family_id, sha256=sha256, among=counted, pixels=pixels
    )


@dataclass(frozen=True, order=True)
class Repeat:
    """A filed photo of the family that a photo repeats (`repeats_of`), as an upload's answer
    names it: the photo that counts, where the repeat's evidence is already in; a repeat of it
    only where the photo is verified as that repeat alone (`_named`)."""

    photo_id: int
    number: int  # its place among the family's photos, oldest first, from 1 ("Photo n")


def _named(
    same: Sequence[int], photos: Sequence[Photo], flags: Sequence[PhotoFlags]
) -> tuple[Repeat, ...]:
    """The Repeats naming `same` (ids among `photos`, oldest first, flagged `flags`), oldest
    first: those that count, not their repeats too. A photo verified as repeats alone (not as
    the photo that counts: its stored file unreadable, the full hashes too far apart) names
    them, which name it: a photo the assessment leaves out as repeated always names one."""
    numbers = {photo.id: number for number, photo in enumerate(photos, 1)}
    repeated = {p.id for p, f in zip(photos, flags, strict=True) if f.repeated}
    counting = [photo_id for photo_id in same if photo_id not in repeated]
    return tuple(sorted(Repeat(photo_id, numbers[photo_id]) for photo_id in counting or same))


def repeats_of(
    services: Services,
    family_id: str,
    *,
    hex_hash: str | None,
    sha256: str,
    score: PhotoScore | None,
    flags: PhotoFlags,
    pixels: np.ndarray | None = None,
    before: int | None = None,
) -> tuple[Repeat, ...]:
    """The family's photos that count which this photo repeats, oldest first (`_named`): what
    `family_flags` finds for it read after them (the family's filed photos; `before`: only
    those filed before this photo id). Empty when the photo would not count itself (its
    `score`, None when unscored, and its `flags`), as `family_flags` flags no such photo.

    The photo is named by its hashes (`hex_hash`), its stored file (`sha256`) and, for an
    upload being filed, its `pixels`, as the upload's reuse check names it. The photos are
    read in a session of their own, and verified after it (verification reads stored photos:
    never while holding the database, as serving.uploads checks reuse). Where no photo of the
    family is even a candidate in the reuse index (`has_family_candidate`), nothing is read:
    the search that follows would find none."""
    taxonomy = get_taxonomy()
    if services.reuse is None or score is None or not usable(score, flags, taxonomy):
        return ()
    if not _may_repeat(services, family_id, hex_hash, before=before):
        return ()
    with session_scope(services.readers) as session:
        family, inputs = session.get(Family, family_id), read_inputs(session, family_id)
    if family is None:
        return ()
    photos = [p for p in inputs.photos if before is None or p.id < before]
    scores = [photo_score(p, taxonomy) for p in photos]
    earlier = family_flags(
        services, family, photos, scores, linked=inputs.reused, taxonomy=taxonomy
    )
    counted = {  # a repeat counts for the photos after it, as in family_flags
        photo.id
        for photo, score_of, flags_of in zip(photos, scores, earlier, strict=True)
        if flags_of.repeated or usable(score_of, flags_of, taxonomy)
    }
    same = _same_as_counted(services, family_id, hex_hash, sha256, counted=counted, pixels=pixels)
    return _named(same, photos, earlier)


def _may_repeat(
    services: Services, family_id: str, hex_hash: str | None, *, before: int | None
) -> bool:
    """Whether the reuse index holds a candidate for this photo among the family's photos
    (of an id under `before`, when given): without an index, a hash or a candidate, no repeat."""
    if services.reuse is None or not hex_hash:
        return False
    return services.reuse.has_family_candidate(hex_hash, family_id=family_id, before=before)


def filed_repeats(services: Services, photo: Photo) -> tuple[Repeat, ...]:
    """`repeats_of` for a filed photo: its own flags (`photo_flags`), read after the photos of
    its family filed before it; nothing read where none of them is a candidate."""
    if not _may_repeat(services, photo.family_id, photo.perceptual_hash, before=photo.id):
        return ()
    with session_scope(services.readers) as session:
        family = session.get(Family, photo.family_id)
        linked = photo.id in reuse_linked(session, [photo])
    if family is None:
        return ()
    flags = photo_flags(services, photo, family, linked=linked)
    return repeats_of(
        services, photo.family_id, hex_hash=photo.perceptual_hash, sha256=photo.sha256,
        score=photo_score(photo, get_taxonomy()), flags=flags, before=photo.id,
    )  # fmt: skip


def listed_repeats(
    services: Services, family: Family, photos: Sequence[Photo]
) -> dict[int, tuple[Repeat, ...]]:
    """`filed_repeats` of each of the family's `photos` (all of them, oldest first, as the
    caller read them), by id, for those that repeat one: the family flagged once
    (`family_flags`; its links read in a session of their own, verified after it), and only
    where one photo has a candidate among those filed before it; else nothing is read."""
    if not any(_may_repeat(services, family.id, p.perceptual_hash, before=p.id) for p in photos):
        return {}
    taxonomy = get_taxonomy()
    with session_scope(services.readers) as session:
        linked = reuse_linked(session, photos)
    scores = [photo_score(p, taxonomy) for p in photos]
    found = _flagged(services, family, photos, scores, linked=linked, taxonomy=taxonomy)
    flags = [flags_of for flags_of, _ in found]
    return {p.id: _named(s, photos, flags) for p, (_, s) in zip(photos, found, strict=True) if s}


def counted_repeated(assessment: Assessment) -> set[int]:
    """The photo ids `assessment` counted as repeats (REPEATED_KEY; none when it predates it)."""
    recorded = str(assessment.model_versions.get(REPEATED_KEY, ""))
    return {int(part) for part in recorded.split(",") if part}


def left_out_reasons(
    score: PhotoScore | None,
    *,
    quality: dict[str, Any],
    reused: bool,
    repeated: bool,
    not_a_home: bool,
) -> list[tuple[str, str]]:
    """Why the assessment leaves the photo's scores out (welfare.aggregate.usable), as the
    page's catalogue labels (kind, code): the stored abstain reasons, then each reason the
    assessment finds that they do not name. A probability that is not a number is low
    confidence (vision.engine.abstain_reasons). `not_a_home`: serving.web.heatmaps.not_a_home;
    `repeated`: the assessment counted the photo as a repeat (`family_flags`)."""
    left_out = [("abstain", str(r)) for r in score.abstain_reasons] if score else []
    found: list[tuple[str, str]] = []
    if quality.get("status") == "fail":
        found.append(("abstain", ABSTAIN_QUALITY))
    if score and (not has_finite_probabilities(score) or (score.abstain and not left_out)):
        found.append(("abstain", ABSTAIN_LOW_CONFIDENCE))
    if not_a_home:  # heatmaps.not_a_home: welfare.aggregate.not_a_dwelling, or said so
        found.append(("abstain", ABSTAIN_NOT_DWELLING))
    if reused:
        found.append(("flag", "reused"))
    if repeated:
        found.append(("flag", "repeated"))
    return left_out + [reason for reason in found if reason not in left_out]
