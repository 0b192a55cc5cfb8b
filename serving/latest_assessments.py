"""Latest assessments: the family's latest assessment version, of one family or many, and the
family lock that orders reading it against filing a photo or recording a decision.

serving.latest_current tells whether the latest one is current, and brings it up to date.
"""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from serving.db.models import Assessment, Family


def lock_family(session: Session, family_id: str) -> Family | None:
    """Lock the family's row until the transaction ends, and return it re-read.

    Filing a photo and recording a decision both take this lock first, so a decision's
    staleness check cannot miss a photo committed alongside it. PostgreSQL needs it (under
    READ COMMITTED each statement sees what was committed when it started); on SQLite,
    FOR UPDATE renders as nothing: write transactions begin IMMEDIATE, one at a time.
    """
    return session.execute(
        select(Family)
        .where(Family.id == family_id)
        .with_for_update()
        .execution_options(populate_existing=True)  # the row as of the lock, not a cached one
    ).scalar_one_or_none()


def latest(session: Session, family_id: str) -> Assessment | None:
    return session.execute(
        select(Assessment)
        .where(Assessment.family_id == family_id)
        .order_by(Assessment.version.desc())
        .limit(1)
    ).scalar_one_or_none()


def latest_statement(family_ids: list[str] | None = None) -> Select[Assessment]:
    """SELECT the latest assessment of each family (of `family_ids`, when given); also usable
    as a subquery (the family list filters on it)."""
    newest = select(Assessment.family_id, func.max(Assessment.version).label("version"))
    if family_ids is not None:
        newest = newest.where(Assessment.family_id.in_(family_ids))
    latest = newest.group_by(Assessment.family_id).subquery()
    return select(Assessment).join(
        latest,
        (Assessment.family_id == latest.c.family_id) & (Assessment.version == latest.c.version),
    )


def latest_of(session: Session, family_ids: list[str]) -> dict[str, Assessment]:
    """The latest assessment of each of these families (that has one), by family id, in the
    order of `family_ids`: the query has no order of its own (the database returns its rows
    as it finds them, which differs between databases and as rows are deleted and written),
    and callers list what they iterate."""
    found = {a.family_id: a for a in session.execute(latest_statement(family_ids)).scalars()}
    return {family_id: found[family_id] for family_id in family_ids if family_id in found}
