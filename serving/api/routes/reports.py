"""Reports for commissions and auditors: overrides, per-group figures, drift (region-scoped).

Every read is audited (`report_viewed`, naming the report), as the oversight page's is."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from serving import reports
from serving.api.deps import CurrentUserDep, ServicesDep, SessionDep, audit_action, policy
from serving.api.errors import error_responses
from serving.api.strict_json import StrictJSONRoute

router = APIRouter(prefix="/reports", tags=["reports"], route_class=StrictJSONRoute)

AUDITORS = ("commission", "admin")


@router.get(
    "/overrides", response_model=dict[str, Any], responses=error_responses(401, 403),
    **policy(*AUDITORS),
)  # fmt: skip
def override_report(
    user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> dict[str, Any]:
    """Decisions and overrides per assessed level, region and reason."""
    found = reports.override_stats(session, user.region)
    return _viewed(session, services, user, "overrides", found)


@router.get(
    "/fairness", response_model=dict[str, Any], responses=error_responses(401, 403),
    **policy(*AUDITORS),
)  # fmt: skip
def fairness_report(
    user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> dict[str, Any]:
    """Override rate and agreement with the system per region, settlement and head gender."""
    return _viewed(session, services, user, "fairness", reports.fairness(session, user.region))


@router.get(
    "/drift", response_model=dict[str, Any], responses=error_responses(401, 403),
    **policy(*AUDITORS),
)  # fmt: skip
def drift_report(
    user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> dict[str, Any]:
    """Shift of the serving model's photo score distributions against its training data (or
    its earlier photos)."""
    found = reports.serving_drift(
        session, user.region, engine=services.pipeline.engine,
        alert_psi=services.settings.drift_alert_psi,
        min_photos=services.settings.drift_min_photos,
    )  # fmt: skip
    return _viewed(session, services, user, "drift", found)


def _viewed(
    session: SessionDep,
    services: ServicesDep,
    user: CurrentUserDep,
    report: str,
    found: dict[str, Any],
) -> dict[str, Any]:
    """`found`, once its read is audited."""
    audit_action(
        session, services, user, "report_viewed", target=f"report:{report}",
        details={"region": user.region},
    )  # fmt: skip
    return found
