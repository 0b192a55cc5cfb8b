"""Health and metrics: what is loaded, whether the database and store answer."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import text

from serving import audit
from serving.api.deps import CurrentUser, CurrentUserDep, ServicesDep, policy
from serving.api.errors import error_responses
from serving.api.schemas import AuditVerifyOut, HealthOut
from serving.api.strict_json import StrictJSONRoute
from serving.db.session import session_scope
from serving.decision_check import verify_with_decisions
from serving.errors import ForbiddenError

router = APIRouter(tags=["system"], route_class=StrictJSONRoute)


class MetricsClientError(ForbiddenError):
    """The scraper's address is not in `metrics_allowed_clients`."""

    code = "metrics_client_not_allowed"


class NationalScopeError(ForbiddenError):
    """The route is for national admins (no region); a regional admin called it."""

    code = "national_scope_required"


def _database_status(services: ServicesDep) -> str:
    try:
        with services.db_engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


@router.get("/health", response_model=HealthOut, openapi_extra={"x-policy": {"public": True}})
def health(services: ServicesDep) -> HealthOut:
    """Model versions, the inference provider, database and photo store status."""
    database = _database_status(services)
    store = services.store.health()
    engine = services.pipeline.engine
    fusion = services.fusion_model
    problems = list(services.load_problems)
    ok = database == "ok" and store == "ok"
    return HealthOut(
        status="ok" if ok and not problems else "degraded",
        database=database,
        store=store,
        model_version=engine.model_version if engine is not None else None,
        inference_provider=engine.provider if engine is not None else None,
        fusion_model_version=getattr(getattr(fusion, "meta", None), "version", None),
        problems=problems,
    )


def client_may_scrape(host: str | None, allowed: Sequence[IPv4Network | IPv6Network | str]) -> bool:
    """Whether `host` (the peer address the server reports) is in the allow-list.

    Entries are networks (a single address is a /32 or /128) or literal names, which match
    only exactly (Starlette's TestClient reports "testclient"). An IPv4 peer seen through a
    dual-stack socket (::ffff:127.0.0.1) counts as its IPv4 address.
    """
    if host is None:
        return False
    if any(entry == host for entry in allowed if isinstance(entry, str)):
        return True
    try:
        address = ip_address(host)
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in entry for entry in allowed if not isinstance(entry, str))


def _allowed_scraper(request: Request, services: ServicesDep) -> None:
    host = request.client.host if request.client else None
    if not client_may_scrape(host, services.settings.metrics_allowed_clients):
        raise MetricsClientError(
            "metrics are served only to the addresses in metrics_allowed_clients "
            "(serving.yaml); scrape from one of them or ask the operator to add this one"
        )


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
        **error_responses(403),
    },
    dependencies=[Depends(_allowed_scraper)],
    # No sign-in (Prometheus sends no token), but only listed client addresses are served.
    openapi_extra={"x-policy": {"public": True, "clients": "metrics_allowed_clients"}},
)
def metrics(services: ServicesDep) -> Response:
    """Prometheus metrics (request counts and latency, uploads, decisions).

    Served without sign-in, but only to the client addresses in `metrics_allowed_clients`
    (serving.yaml; loopback by default); any other address gets 403
    `metrics_client_not_allowed`.
    """
    return Response(services.metrics.render(), media_type="text/plain; version=0.0.4")


def _national(user: CurrentUserDep) -> CurrentUser:
    if user.region is not None:
        raise NationalScopeError(
            "only a national administrator (no region) may verify the whole audit chain; "
            "ask one to run it"
        )
    return user


def _national_admin() -> dict[str, Any]:
    """Route keyword arguments: admins only (`policy`), and only those with national scope."""
    declared = policy("admin")
    declared["dependencies"].append(Depends(_national))  # after the role check
    declared["openapi_extra"]["x-policy"]["scope"] = "national"
    return declared


@router.get(
    "/audit/verify", response_model=AuditVerifyOut, responses=error_responses(401, 403),
    **_national_admin(),
)  # fmt: skip
def verify_audit(services: ServicesDep, user: CurrentUserDep) -> AuditVerifyOut:
    """Walk the audit chain; any edited or deleted entry is reported. The check itself is
    audited (`audit_verified`, with its result), after the walk.

    National admins only: the chain spans every region, so a regional admin gets 403
    `national_scope_required`.
    """
    with session_scope(services.sessions) as session:
        result = verify_with_decisions(session, services.signing_key)
        audit.append(
            session, services.signing_key, actor=user.username, action="audit_verified",
            details={"ok": result.ok, "entries": result.entries, "problems": len(result.problems)},
        )  # fmt: skip
    return AuditVerifyOut(ok=result.ok, entries=result.entries, problems=result.problems)
