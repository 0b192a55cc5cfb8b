"""Health and metrics: what is loaded, whether the database and store answer."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import text

from serving import audit
from serving.api.deps import ServicesDep, policy
from serving.api.errors import error_responses
from serving.api.schemas import AuditVerifyOut, HealthOut
from serving.db.session import session_scope

router = APIRouter(tags=["system"])


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


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    openapi_extra={"x-policy": {"public": True}},
)
def metrics(services: ServicesDep) -> Response:
    """Prometheus metrics (request counts and latency, uploads, decisions)."""
    return Response(services.metrics.render(), media_type="text/plain; version=0.0.4")


@router.get(
    "/audit/verify", response_model=AuditVerifyOut, responses=error_responses(401, 403),
    **policy("admin"),
)  # fmt: skip
def verify_audit(services: ServicesDep) -> AuditVerifyOut:
    """Walk the audit chain; any edited or deleted entry is reported."""
    with session_scope(services.sessions) as session:
        result = audit.verify(session, services.signing_key)
    return AuditVerifyOut(ok=result.ok, entries=result.entries, problems=result.problems)
