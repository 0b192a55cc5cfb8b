"""Reports for commissions and auditors: overrides, per-group figures, drift (region-scoped).

Each report covers the caller's region (every region for a national admin), or the region
named by `region` (empty: as if none were named): any of configs/welfare.yaml `regions` for
a national admin, only its own for anyone else (403 `region_out_of_scope`). A region not
configured is a 422 naming those that are, never an empty report. The answer says which
region it covers (`region`, None: every region). Every read is audited (`report_viewed`,
naming the report and the region covered), as the oversight page's is."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from serving import reports
from serving.api.deps import (
    CurrentUser,
    CurrentUserDep,
    ServicesDep,
    SessionDep,
    audit_action,
    policy,
)
from serving.api.errors import error_responses
from serving.api.strict_json import StrictJSONRoute
from serving.errors import RecordInvalidError
from serving.users import RegionScopeError
from welfare.criteria import get_welfare_config

router = APIRouter(prefix="/reports", tags=["reports"], route_class=StrictJSONRoute)

AUDITORS = ("commission", "admin")
_ERRORS = error_responses(401, 403, 422)

RegionQuery = Annotated[
    str,
    Query(
        max_length=64,
        description=(
            "A region id of configs/welfare.yaml to report on (none or empty: the caller's "
            "region; every region for a national admin). Only a national admin may name a "
            "region other than its own."
        ),
    ),
]


def _scope(user: CurrentUser, region: str) -> str | None:
    """The region the report covers (None: every region): `region` when the caller may see
    it, the caller's own when none is named ("")."""
    if not region or region == user.region:
        return user.region
    regions = get_welfare_config().regions
    if region not in regions:
        raise RecordInvalidError(f"unknown region {region!r}; choose one of {', '.join(regions)}")
    if not user.sees_region(region):
        raise RegionScopeError(
            f"your reports cover your region ({user.region}) only, not {region!r}; "
            "ask a national administrator"
        )
    return region


@router.get("/overrides", response_model=dict[str, Any], responses=_ERRORS, **policy(*AUDITORS))
def override_report(
    user: CurrentUserDep, services: ServicesDep, session: SessionDep, region: RegionQuery = ""
) -> dict[str, Any]:
    """Decisions and overrides per assessed level, region and reason."""
    scope = _scope(user, region)
    found = reports.override_stats(session, scope)
    return _viewed(session, services, user, "overrides", scope, found)


@router.get("/fairness", response_model=dict[str, Any], responses=_ERRORS, **policy(*AUDITORS))
def fairness_report(
    user: CurrentUserDep, services: ServicesDep, session: SessionDep, region: RegionQuery = ""
) -> dict[str, Any]:
    """Override rate and agreement with the system per region, settlement and head gender."""
    scope = _scope(user, region)
    return _viewed(session, services, user, "fairness", scope, reports.fairness(session, scope))


@router.get("/drift", response_model=dict[str, Any], responses=_ERRORS, **policy(*AUDITORS))
def drift_report(
    user: CurrentUserDep, services: ServicesDep, session: SessionDep, region: RegionQuery = ""
) -> dict[str, Any]:
    """Shift of the serving model's photo score distributions against its training data (or
    its earlier photos)."""
    scope = _scope(user, region)
    found = reports.serving_drift(
        session, scope, engine=services.pipeline.engine,
        alert_psi=services.settings.drift_alert_psi,
        min_photos=services.settings.drift_min_photos,
    )  # fmt: skip
    return _viewed(session, services, user, "drift", scope, found)


def _viewed(
    session: SessionDep,
    services: ServicesDep,
    user: CurrentUserDep,
    report: str,
    scope: str | None,
    found: dict[str, Any],
) -> dict[str, Any]:
    """`found`, naming the region it covers (`scope`), once its read is audited."""
    audit_action(
        session, services, user, "report_viewed", target=f"report:{report}",
        details={"region": scope},
    )  # fmt: skip
    return {"region": scope, **found}
