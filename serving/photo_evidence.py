"""What an assessment reads of each photo: its score, and its quality and reuse flags.

A photo stored without a score (UNSCORED) is present but unusable (`photo_score`). A photo is
reused when a reuse link names it (`reuse_linked`: serving.uploads writes one when a later
upload for another family is verified as the same photo) or when the reuse index verifies
another family's filed photo as the same (`photo_flags`; photos filed before links were
written have none).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from serving.db.models import Family, Photo, ReuseLink
from serving.state import Services
from shanyraq.taxonomy import Taxonomy
from vision.score import PhotoScore
from welfare.aggregate import PhotoFlags

# A photo stored without a score: uploaded while the service had no photo model (model_dir
# empty), and not scored since by a promoted re-scoring (`rescore promote` keeps a photo's old
# score, here none, when the new model could not score it: original missing, damaged or
# undecodable). In an assessment it is an abstaining photo with this abstain reason, and
# this stands for its photo model in `model_versions["vision"]`.
UNSCORED = "unscored"


def reuse_linked(session: Session, photos: Iterable[Photo]) -> set[int]:
    """The ids of `photos` that a reuse link names, on either side, while the photo on its
    other side exists (one query, whatever the number of families)."""
    ids = [p.id for p in photos]
    if not ids:
        return set()
    other = aliased(Photo)
    pairs = session.execute(
        select(ReuseLink.photo_id, other.id)
        .join(
            other,
            and_(
                other.family_id == ReuseLink.other_family_id,
                other.sha256 == ReuseLink.other_sha256,
            ),
        )
        .where(or_(ReuseLink.photo_id.in_(ids), other.id.in_(ids)))
    ).all()
    return {photo_id for pair in pairs for photo_id in pair} & set(ids)


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
        found = services.reuse.matches(
            photo.perceptual_hash, family_id=family.id, viewer_role="system", viewer_region=None
        )
        reused = bool(found["reused"])
    return PhotoFlags(quality_status=quality, reused=reused)
