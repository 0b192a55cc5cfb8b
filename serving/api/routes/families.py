"""Families: the Digital Family Card record, validated by welfare.schema, scoped by region."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from serving.api.deps import (
    CurrentUserDep,
    FamilyInScope,
    ServicesDep,
    SessionDep,
    audit_action,
    policy,
    scoped,
)
from serving.api.errors import ErrorBody, error_responses
from serving.api.schemas import FamilyIn, FamilyOut, FamilyUpdate
from serving.api.strict_json import StrictJSONRoute
from serving.db.models import Family, utcnow
from serving.errors import ConflictError, ForbiddenError
from welfare.schema import parse_family

router = APIRouter(prefix="/families", tags=["families"], route_class=StrictJSONRoute)

READERS = ("inspector", "commission", "admin")
WRITERS = ("inspector", "admin")


class FamilyIdUnavailableError(ConflictError):
    """The id is taken outside the caller's region: said without confirming that it exists."""

    code = "family_id_unavailable"


ID_UNAVAILABLE = "this family id cannot be used; check the Digital Family Card number"
_CREATE_CONFLICT = {
    "model": ErrorBody,
    "description": (
        "The id cannot be used. `conflict`: the family exists in your region already (update "
        "it instead). `family_id_unavailable`: any other reason; whether a family with this "
        "id exists elsewhere is not revealed."
    ),
}


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
    responses={**error_responses(401, 403, 422), 409: _CREATE_CONFLICT}, **policy(*WRITERS),
)  # fmt: skip
def create_family(
    body: FamilyIn, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> FamilyOut:
    """File a family's record in the caller's region.

    An id already filed in the caller's region answers 409 `conflict` (update it instead).
    An id taken outside it answers 409 `family_id_unavailable` with a message that does not
    say whether, or where, it exists (other regions' records are not revealed).
    """
    record = parse_family(body.model_dump())
    if not user.sees_region(record.region):
        raise ForbiddenError(f"you may file families only in your region ({user.region})")
    existing = session.get(Family, record.family_id)
    if existing is not None:
        if user.sees_region(existing.region):
            raise ConflictError(f"family {record.family_id!r} exists already; update it instead")
        raise FamilyIdUnavailableError(ID_UNAVAILABLE)
    family = Family(
        id=record.family_id, region=record.region, settlement=record.settlement,
        head_gender=record.head_gender, record=record.model_dump(mode="json"), version=1,
        created_by=user.id,
    )  # fmt: skip
    session.add(family)
    try:
        session.flush()
    except IntegrityError:  # filed by a concurrent request since the check: say no more
        raise FamilyIdUnavailableError(ID_UNAVAILABLE) from None
    audit_action(
        session, services, user, "family_created",
        target=f"family:{family.id}", details={"region": family.region},
    )  # fmt: skip
    return family_out(family)


@router.get(
    "", response_model=list[FamilyOut], responses=error_responses(401, 403), **policy(*READERS)
)
def list_families(
    user: CurrentUserDep,
    services: ServicesDep,
    session: SessionDep,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> list[FamilyOut]:
    """Families in the caller's region (all regions for national admins); the read is audited."""
    statement = scoped(select(Family), user, Family.region).order_by(Family.id)
    rows = session.execute(statement.limit(limit).offset(offset)).scalars()
    families = [family_out(f) for f in rows]
    audit_action(
        session, services, user, "families_listed",
        details={"limit": limit, "offset": offset, "count": len(families), "region": user.region},
    )  # fmt: skip
    return families


@router.get(
    "/{family_id}", response_model=FamilyOut, responses=error_responses(401, 403, 404),
    **policy(*READERS),
)  # fmt: skip
def get_family(
    family: FamilyInScope, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> FamilyOut:
    """One family's record (the view is audited)."""
    audit_action(
        session, services, user, "family_viewed",
        target=f"family:{family.id}",
    )  # fmt: skip
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
    """Change the record (region and id are fixed); the version goes up by one. An update
    that leaves the record as it was (a form sent again) keeps the version, so the family's
    assessment stays current; it is audited all the same."""
    data = dict(family.record)
    changes = body.model_dump(exclude_none=True)
    data.update(changes)
    record = parse_family(data)
    stored = record.model_dump(mode="json")
    if stored == family.record:
        audit_action(
            session, services, user, "family_updated", target=f"family:{family.id}",
            details={"version": family.version, "changed": [], "unchanged": True},
        )  # fmt: skip
        return family_out(family)
    family.record = stored
    family.settlement, family.head_gender = record.settlement, record.head_gender
    family.version += 1
    family.updated_at = utcnow()
    audit_action(
        session, services, user, "family_updated",
        target=f"family:{family.id}",
        details={"version": family.version, "changed": sorted(changes)},
    )  # fmt: skip
    return family_out(family)
