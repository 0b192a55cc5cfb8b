"""Reassessment after a promotion: a new assessment version for each family whose latest one
was computed on scores other than the ones its photos now carry.

The test is the photo models an assessment records (`model_versions["vision"]`) against the
models of its photos' current scores, so it holds after the fact: an interrupted reassessment
resumes with the families still stale, and a second one finds none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.assessments import latest_of, photo_models
from serving.db.models import Family, Photo, RescoredScore, User
from serving.db.session import session_scope
from shanyraq.errors import ShanyraqError

if TYPE_CHECKING:
    from serving.state import Services


class ReassessActorError(ShanyraqError):
    code = "reassess_actor_invalid"


def stale_families(session: Session, model_version: str) -> list[str]:
    """Families with photos on M's re-scores whose latest assessment used other scores."""
    adopted = (
        select(Photo.family_id)
        .join(RescoredScore, RescoredScore.photo_id == Photo.id)
        .where(RescoredScore.model_version == model_version, Photo.model_version == model_version)
        .distinct()
    )
    families = sorted(session.execute(adopted).scalars())
    stale = []
    for start in range(0, len(families), 500):
        for row in latest_of(session, families[start : start + 500]).values():
            photos = session.execute(select(Photo).where(Photo.id.in_(row.photo_ids))).scalars()
            if row.model_versions.get("vision") != photo_models(list(photos)):
                stale.append(row.family_id)
    return sorted(stale)


def resolve_actor(session: Session, username: str) -> tuple[int, str]:
    """The admin account new assessments are recorded as created by."""
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active or user.role != "admin":
        raise ReassessActorError(
            f"{username!r} is not an active admin account; reassessing covers every region, so "
            "give an admin's name (`shanyraq users add NAME --role admin` makes one)"
        )
    return user.id, user.username


def reassess(
    services: Services, *, model_version: str, actor: tuple[int, str], progress: bool = True
) -> list[tuple[str, int]]:
    """A new assessment version for each family `stale_families` names; (family, version).

    One transaction per family, each audited by `assessments.compute`.
    """
    from tqdm import tqdm

    from serving.assessments import compute

    with services.sessions() as session:
        families = stale_families(session, model_version)
    made = []
    for family_id in tqdm(families, desc="reassessing", unit="family", disable=not progress):
        with session_scope(services.sessions) as session:
            family = session.get_one(Family, family_id)
            row = compute(session, services, family, actor=actor)
            made.append((family_id, row.version))
    return made
