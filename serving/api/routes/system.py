"""Health and metrics: what is loaded, whether the database and store answer."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from serving import audit
from serving.api.deps import CurrentUser, CurrentUserDep, ServicesDep, policy
from serving.api.errors import error_responses
from serving.api.schemas import AuditVerifyOut, HealthOut
from serving.api.strict_json import StrictJSONRoute
from serving.db.session import session_scope
from serving.decision_check import verify_with_decisions
from serving.errors import ForbiddenError
from serving.state import Services

router = APIRouter(tags=["system"], route_class=StrictJSONRoute)


class MetricsClientError(ForbiddenError):
    """The scraper's address is not in `metrics_allowed_clients`."""

    code = "metrics_client_not_allowed"


class NationalScopeError(ForbiddenError):
    """The route is for national admins (no region); a regional admin called it."""

    code = "national_scope_required"


# Each check of /health answers within this, or counts as failed: a hung database server or
# NFS store must not hang the health check (Dockerfile.gpu's HEALTHCHECK allows 5 s in all;
# the checks run side by side).
HEALTH_CHECK_TIMEOUT_S = 2.0


class _Probe:
    """Runs one resource's check in a daemon thread, one at a time: callers arriving while
    it runs share it, so a check that hangs holds one thread, not one per /health call (they
    would use up the server's worker threads), and a hung one cannot block shutdown."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: Future[str] | None = None
        self._started = 0.0

    def start(self, run: Callable[[], str]) -> tuple[Future[str], float]:
        """The check in progress (a new one unless one runs already), and when it began."""
        with self._lock:
            if self._running is None or self._running.done():
                self._running = Future()
                self._started = time.monotonic()
                threading.Thread(
                    target=_settle, args=(self._running, run), name="health-check", daemon=True
                ).start()
            return self._running, self._started


def _settle(future: Future[str], run: Callable[[], str]) -> None:
    try:
        future.set_result(run())
    except Exception as exc:
        future.set_result(f"error: {type(exc).__name__}")


# One probe per checked resource (an engine, a store): several apps in one process (tests)
# do not share one, and a resource that is gone takes its probe with it.
_probes: weakref.WeakKeyDictionary[object, _Probe] = weakref.WeakKeyDictionary()
_probes_lock = threading.Lock()


def _check_all(checks: Sequence[tuple[object, Callable[[], str]]]) -> list[str]:
    """Each (resource, check) run side by side; a check without an answer within
    HEALTH_CHECK_TIMEOUT_S reads as an error."""
    with _probes_lock:
        probes = [_probes.setdefault(resource, _Probe()) for resource, _ in checks]
    running = [probe.start(run) for probe, (_, run) in zip(probes, checks, strict=True)]
    deadline = time.monotonic() + HEALTH_CHECK_TIMEOUT_S
    outcomes = []
    for future, started in running:
        try:
            outcomes.append(future.result(timeout=max(0.0, deadline - time.monotonic())))
        except TimeoutError:
            outcomes.append(
                f"error: no answer within {HEALTH_CHECK_TIMEOUT_S:g} s (this check has been "
                f"waiting {time.monotonic() - started:.0f} s)"
            )
    return outcomes


def _database_status(engine: Engine) -> str:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return "ok"


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "Cannot serve: see the fields"}},
    openapi_extra={"x-policy": {"public": True}},
)
def health(services: ServicesDep, response: Response) -> HealthOut:
    """Model versions, the inference provider, database and photo store status.

    200 while the service can serve ("degraded" when a model is not configured: photos are
    then stored unscored, assessments rest on the rules; or when the photo model is not
    answering, its calls running past their uploads' timeout: reads and decisions still work,
    and the call may yet return); 503 when it cannot - the database
    or the store does not answer (each check is given HEALTH_CHECK_TIMEOUT_S) or photo
    scoring has stopped - so a load balancer or container health check takes it out.
    """
    # Reads have their own engine on SQLite: the writers' single connection may be held by
    # an upload for seconds, which says nothing about the database's health.
    engine = services.read_engine or services.db_engine
    database, store = _check_all(
        [(engine, lambda: _database_status(engine)), (services.store, services.store.health)]
    )
    problems = list(services.load_problems)
    stopped = services.pipeline.scoring_stopped
    if stopped:
        problems.append(
            "photo scoring has stopped (the log says why): uploads are refused until the "
            "service is restarted"
        )
    late, at_once = services.pipeline.model_calls_late()
    if late:
        timeout_s = services.pipeline.score_timeout_s or 0.0
        late_for_s = services.pipeline.model_calls_late_for_s()
        problems.append(_not_answering(late, at_once, timeout_s, late_for_s))
    serving = database == "ok" and store == "ok" and not stopped
    if not serving:
        response.status_code = 503
    model = services.pipeline.engine
    fusion = services.fusion_model
    return HealthOut(
        status="unavailable" if not serving else "degraded" if problems else "ok",
        database=database,
        store=store,
        model_version=model.model_version if model is not None else None,
        inference_provider=model.provider if model is not None else None,
        fusion_model_version=getattr(getattr(fusion, "meta", None), "version", None),
        problems=problems,
    )


def _not_answering(late: int, at_once: int, timeout_s: float, late_for_s: float) -> str:
    """The problem /health names while `late` of the model's `at_once` calls run past their
    uploads' timeout (`timeout_s`), the one furthest past it for `late_for_s`."""
    oldest = "past it" if late == 1 else "the oldest past it"
    if late < at_once:
        calls = "1 model call has" if late == 1 else f"{late} model calls have"
        whose = "its upload's" if late == 1 else "their uploads'"
        refused = f"the model runs {at_once} calls at once: uploads are refused once all are late"
    elif late == 1:
        calls, whose = "its call has", "its uploads'"
        refused = "uploads are refused until it returns"
    else:
        calls, whose = f"all {late} of its calls have", "their uploads'"
        refused = "uploads are refused until one returns"
    return (
        f"the photo model is not answering: {calls} run past {whose} timeout ({timeout_s:g} s, "
        f"score_timeout_s) and not returned ({oldest} for {late_for_s:.0f} s); {refused} (a "
        "call that never returns ends only with a restart; the log says more)"
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
    """Prometheus metrics (request counts and latency, uploads, decisions, photo model calls
    running past their uploads' timeout, stored photo files the reuse check could not read).

    Served without sign-in, but only to the client addresses in `metrics_allowed_clients`
    (serving.yaml; loopback by default); any other address gets 403
    `metrics_client_not_allowed`.
    """
    services.metrics.model_calls_late.set(services.pipeline.model_calls_late()[0])
    reuse = services.reuse
    services.metrics.reuse_unreadable.set(len(reuse.unreadable) if reuse is not None else 0)
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


def record_check(
    session: Session, services: Services, user: CurrentUser, result: audit.VerifyResult
) -> None:
    """Append the `audit_verified` entry of a check of the whole chain that `user` made (this
    route's or the audit page's), in the caller's transaction: its result, and whether the
    anchor file's checks ran."""
    audit.append(
        session, services.signing_key, actor=user.username, action="audit_verified",
        details={
            "ok": result.ok, "entries": result.entries, "problems": len(result.problems),
            "anchor_checked": not result.notes,  # the only note: the anchor's checks skipped
        },
    )  # fmt: skip


@router.get(
    "/audit/verify", response_model=AuditVerifyOut, responses=error_responses(401, 403),
    **_national_admin(),
)  # fmt: skip
def verify_audit(services: ServicesDep, user: CurrentUserDep) -> AuditVerifyOut:
    """Walk the audit chain; any edited or deleted entry is reported. The check itself is
    audited (`audit_verified`, with its result and whether the anchor file's checks ran),
    after the walk. `notes` says what the check could not do without that being a problem:
    the anchor file missing, as after a restore.

    National admins only: the chain spans every region, so a regional admin gets 403
    `national_scope_required`.
    """
    with session_scope(services.sessions) as session:
        result = verify_with_decisions(session, services.signing_key)
        record_check(session, services, user, result)
    return AuditVerifyOut(
        ok=result.ok, entries=result.entries, problems=result.problems, notes=result.notes
    )
