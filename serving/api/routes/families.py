"""Families: the Digital Family Card record, validated by welfare.schema, scoped by region."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select

from serving import audit
from serving.api.deps import (
    CurrentUserDep,
    FamilyInScope,
    ServicesDep,
    SessionDep,
    policy,
    scoped,
)
from serving.api.errors import error_responses
from serving.api.schemas import FamilyIn, FamilyOut, FamilyUpdate
from serving.db.models import Family, utcnow
from serving.errors import ConflictError, ForbiddenError
from welfare.schema import parse_family

router = APIRouter(prefix="/families", tags=["families"])

READERS = ("inspector", "commission", "admin")
WRITERS = ("inspector", "admin")


def family_out(family: Family) -> FamilyOut:
    return FamilyOut(
        family_id=family.id,
        region=family.region,
        settlement=family.settlement,
        head_gender=family.head_gender,
        criteria=family.record["criteria"],
        version=family.version,
        updated_at=family.updated_at,
    )


@router.post(
    "", status_code=201, response_model=FamilyOut,
    responses=error_responses(401, 403, 409, 422), **policy(*WRITERS),
)  # fmt: skip
def create_family(
    body: FamilyIn, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> FamilyOut:
    """File a family's record in the caller's region."""
    record = parse_family(body.model_dump())
    if not user.sees_region(record.region):
        raise ForbiddenError(f"you may file families only in your region ({user.region})")
    if session.get(Family, record.family_id) is not None:
        raise ConflictError(f"family {record.family_id!r} exists already; update it instead")
    family = Family(
        id=record.family_id, region=record.region, settlement=record.settlement,
        head_gender=record.head_gender, record=record.model_dump(mode="json"), version=1,
        created_by=user.id,
    )  # fmt: skip
    session.add(family)
    session.flush()
    audit.append(
        session, services.signing_key, actor=user.username, action="family_created",
        target=f"family:{family.id}", details={"region": family.region},
    )  # fmt: skip
    session.commit()
    return family_out(family)


@router.get(
    "", response_model=list[FamilyOut], responses=error_responses(401, 403), **policy(*READERS)
)
def list_families(
    user: CurrentUserDep,
    session: SessionDep,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> list[FamilyOut]:
    """Families in the caller's region (all regions for national admins)."""
    statement = scoped(select(Family), user, Family.region).order_by(Family.id)
    rows = session.execute(statement.limit(limit).offset(offset)).scalars()
    return [family_out(f) for f in rows]


@router.get(
    "/{family_id}", response_model=FamilyOut, responses=error_responses(401, 403, 404),
    **policy(*READERS),
)  # fmt: skip
def get_family(
    family: FamilyInScope, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> FamilyOut:
    """One family's record (the view is audited)."""
    audit.append(
        session, services.signing_key, actor=user.username, action="family_viewed",
        target=f"family:{family.id}",
    )  # fmt: skip
    session.commit()
    return family_out(family)


@router.put(
    "/{family_id}", response_model=FamilyOut, responses=error_responses(401, 403, 404, 422),
    **policy(*WRITERS),
)  # fmt: skip
def update_family(
    body: FamilyUpdate,
    family: FamilyInScope,
    user: CurrentUserDep,
    services: ServicesDep,
    session: SessionDep,
) -> FamilyOut:
    """Change the record (region and id are fixed); the version goes up by one."""
    data = dict(family.record)
    changes = body.model_dump(exclude_none=True)
    data.update(changes)
    record = parse_family(data)
    family.record = record.model_dump(mode="json")
    family.settlement, family.head_gender = record.settlement, record.head_gender
    family.version += 1
    family.updated_at = utcnow()
    audit.append(
        session, services.signing_key, actor=user.username, action="family_updated",
        target=f"family:{family.id}",
        details={"version": family.version, "changed": sorted(changes)},
    )  # fmt: skip
    session.commit()
    return family_out(family)
