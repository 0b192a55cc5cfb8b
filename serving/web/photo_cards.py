"""A photo's card on the family page: its scores as the page shows them, its heat-map
evidence, why the assessment leaves it out, its quality and its reuse note.

Only shapes what it is given: the family page (serving.web.family_view) reads the photos and
their reuse links once and hands each card its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from serving.api.deps import CurrentUser
from serving.db.models import Photo
from serving.photo_evidence import left_out_reasons
from serving.photo_room import may_correct
from serving.reuse_index import ReuseMatch
from serving.reuse_links import reuse_shown
from serving.state import Services
from serving.web import heatmaps
from shanyraq.taxonomy import get_taxonomy
from vision.score import PhotoScore
from welfare.aggregate import room_of


def _reuse(
    services: Services, photo: Photo, user: CurrentUser, linked: Sequence[ReuseMatch]
) -> dict[str, Any]:
    # What the assessment counts (index and links), as the viewer may see it (ids or a count).
    return reuse_shown(services, photo, linked, viewer_role=user.role, viewer_region=user.region)


@dataclass(frozen=True)
class PhotoView:
    id: int
    number: int  # 1, 2, ... in filing order
    room_hint: str | None
    created_at: datetime
    scored: bool
    model_version: str | None  # the photo model that scored it
    # A sign heat map of the loaded model explains its scores (serving.web.heatmaps.explains),
    # and the photo is one whose signs are read (not `not_a_home`).
    evidence: bool
    # The model said it is not a home (heatmaps.not_a_home: abstained so, or its top room is
    # not_dwelling): its signs are not read (such photos train the room head only, and the
    # family's aggregation leaves them out), so no sign heat maps nor probabilities (`signs`
    # is empty); the page says why.
    not_a_home: bool
    # Probabilities; None where the model gave no number (`shown_probability`), shown as a dash.
    rooms: list[tuple[str, float | None]]  # most likely first, None last
    conditions: list[tuple[int, float | None]]  # by grade
    signs: list[tuple[str, float | None]]  # most likely first, None last
    # Why the assessment leaves the photo's scores out (welfare.aggregate), as catalogue
    # labels (kind, code): its abstain reasons, a failed quality check, no numbers, not a
    # home, a reuse, a repeat (photo_evidence.left_out_reasons); empty exactly when
    # welfare.aggregate.usable holds.
    left_out: list[tuple[str, str]]
    quality: dict[str, Any]
    reuse: dict[str, Any]
    # The viewer may correct the room note (serving.photo_room.may_correct): the card offers
    # the form then, and only then.
    may_correct: bool


def shown_probability(stored: float | None) -> float | None:
    """A stored probability as the page shows it; None where the model gave no number: null
    (PhotoScore.to_dict), or NaN/inf in a score stored before to_dict wrote null (SQLite)."""
    if stored is None or not math.isfinite(stored):
        return None
    return float(stored)


def _most_likely_first(
    stored: dict[str, float], *, top: str | None = None
) -> list[tuple[str, float | None]]:
    """Most likely first, None last; on a tie, `top` first: the room the assessment reads
    (room_of: not_dwelling wins a tie), so the card never names another room than it."""
    shown = [(name, shown_probability(p)) for name, p in stored.items()]
    return sorted(shown, key=lambda kv: (kv[1] is None, -(kv[1] or 0.0), kv[0] != top))


def photo_view(
    services: Services,
    photo: Photo,
    user: CurrentUser,
    *,
    number: int,
    linked: Sequence[ReuseMatch] = (),
    repeated: bool = False,
) -> PhotoView:
    """`linked`: the other photos the photo's reuse links name (`photo_evidence.Inputs.links`);
    `repeated`: the assessment shown counted it as a repeat (photo_evidence.counted_repeated).
    The stored score is read once: the tables, heat maps and reasons all show that reading."""
    score = PhotoScore.from_dict(photo.score) if photo.score else None
    not_a_home = score is not None and heatmaps.score_not_a_home(score)
    top = room_of(score, get_taxonomy()) if score and score.room else None
    grades = score.condition if score else {}
    quality = photo.quality or {"status": "unknown", "reasons": [], "retake_hint": ""}
    reuse = _reuse(services, photo, user, linked)
    left_out = left_out_reasons(
        score, quality=quality, reused=reuse["reused"], repeated=repeated, not_a_home=not_a_home
    )
    return PhotoView(
        id=photo.id,
        number=number,
        room_hint=photo.room_hint,
        created_at=photo.created_at,
        scored=score is not None,
        model_version=photo.model_version,
        evidence=heatmaps.explains(services, photo) and not not_a_home,
        not_a_home=not_a_home,
        rooms=_most_likely_first(score.room, top=top)[:3] if score else [],
        conditions=[(g, shown_probability(grades[g])) for g in sorted(grades)],
        signs=_most_likely_first(score.signs) if score and not not_a_home else [],
        left_out=left_out,
        quality=quality,
        reuse=reuse,
        may_correct=may_correct(photo, user_id=user.id, role=user.role),
    )
