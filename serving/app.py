"""The FastAPI application: `create_app(settings)`; its lifespan loads every model once."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from sqlalchemy import select
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving import audit_anchor
from serving.api.body_limit import BodySizeLimit
from serving.api.errors import install_error_handlers
from serving.api.openapi_limits import install_reason_limits
from serving.api.routes import (
    assessments,
    auth,
    families,
    photo_room,
    photos,
    reports,
    system,
    users,
)
from serving.core.config import ServingSettings, get_settings
from serving.data_dir import warn_if_open
from serving.db.models import Family, Photo
from serving.db.session import (
    make_engine,
    make_read_engine,
    make_read_session_factory,
    make_session_factory,
    session_scope,
)
from serving.metrics import Metrics, method_label
from serving.pipeline import PhotoPipeline
from serving.ratelimit import RateLimiter
from serving.reuse_index import ReuseIndex
from serving.state import Services
from serving.storage import PhotoStore
from serving.stored_decode import decode_stored
from serving.web import heatmap_cache, mount_web
from serving.web.render import STATIC_URL

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

DESCRIPTION = """
Inspectors upload photos of a family's home; each photo is checked for quality and reuse and
scored at once. A family's assessment (welfare level 1-6 and an ASP recommendation) is
**advisory**: a commission member records the decision, and only a person can. Every
route declares which roles may call it (`x-policy`); users see only their own region.
Errors are JSON `{"code": ..., "message": ...}` with a stable code; a refused decision also
names its `refusal`, a refusal by role the `roles` the route admits.
"""


# What an answer that says nothing about caching gets (the pages send the same themselves).
PRIVATE_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class PrivateByDefault:
    """ASGI middleware: an answer that says nothing about caching is not to be stored.

    API answers carry personal data, tokens and photos of a family's home; a browser or
    proxy must not keep them (RFC 6749 asks this of token answers). The pages set the same
    headers themselves (serving.web.render); static files under `exempt_prefix` keep their
    validators and may be cached.
    """

    def __init__(self, app: ASGIApp, *, exempt_prefix: str) -> None:
        self.app = app
        self.exempt_prefix = exempt_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefix):
            await self.app(scope, receive, send)
            return

        async def send_private(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in PRIVATE_HEADERS.items():
                    headers.setdefault(name, value)  # a route's own choice stands
            await send(message)

        await self.app(scope, receive, send_private)


STATIC_ROUTE = f"{STATIC_URL}/{{path}}"  # the metrics' route label of the static files


class PrivateApp(FastAPI):
    """The service's FastAPI app: every answer passes `PrivateByDefault` last.

    Middleware added with `add_middleware` runs inside Starlette's ServerErrorMiddleware,
    whose answer to an unhandled exception (the 500) would pass it by; so would a refusal
    answered before the app (`BodySizeLimit`'s 413) if it were further in. Here it wraps
    the whole stack, so no answer leaves without the headers.
    """

    private_exempt_prefix = STATIC_URL

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return PrivateByDefault(stack, exempt_prefix=self.private_exempt_prefix)


def _load_models(settings: ServingSettings) -> tuple[object | None, object | None, list[str]]:
    """The scoring engine and fusion model named in the settings; absent ones are reported."""
    problems: list[str] = []
    engine = fusion = None
    if settings.model_dir is not None:
        from vision.engine import Engine

        engine = Engine.load(settings.model_dir)  # a broken or mismatched model stops start-up
    else:
        problems.append("no photo model configured (model_dir): photos are stored, not scored")
    if settings.fusion_dir is not None:
        from welfare.fusion import FusionModel

        fusion = FusionModel.load(settings.fusion_dir)
    else:
        problems.append("no fusion model configured (fusion_dir): assessments use rules only")
    return engine, fusion, problems


def build_reuse_index(services: Services) -> ReuseIndex:
    """The reuse index of every filed photo's hashes, from the database in upload order;
    candidates are verified on the stored pixels. `build_services` makes the service's own,
    and a command that only reads makes one the same way (assessments_cli)."""
    from shanyraq.config import get_settings as get_shanyraq_settings
    from vision.engine import get_engine_config

    config = get_engine_config().hashing
    max_pixels = get_shanyraq_settings().io.max_pixels

    def stored_pixels(sha256: str) -> np.ndarray:
        # JPEGs decode at 1/2..1/8 scale: a few milliseconds, not a full decode. Under the
        # limit stored photos are read at, not today's upload limit (`decode_stored`).
        data = services.store.read(sha256)
        side = config.verification.working_side_px
        return decode_stored(sha256, data, max_pixels=max_pixels, target_size=side).pixels

    index = ReuseIndex(config=config, load_pixels=stored_pixels)
    with session_scope(services.sessions) as session:
        rows = session.execute(
            select(Photo.id, Photo.perceptual_hash, Photo.family_id, Family.region, Photo.sha256)
            .join(Family, Family.id == Photo.family_id)
            .where(Photo.perceptual_hash.is_not(None))
            .order_by(Photo.id)  # upload order: ties on distance are cut as before a restart
        ).all()
    for photo_id, hex_hash, family_id, region, sha256 in rows:
        if hex_hash is not None:
            index.add(photo_id, hex_hash, family_id=family_id, region=region, sha256=sha256)
    return index


def build_services(
    settings: ServingSettings, *, service_start: bool = False, config: Path | None = None
) -> Services:
    """The service's parts. `service_start`: the service itself is starting, so no upload of
    its own is in flight and every temp file in the store is a crash's; a command building
    them while the service may run leaves young ones alone (PhotoStore.prepare). `config`:
    the --config `settings` were read from (None: none given, or not known), which the
    `audit verify` its sealing and its sessions' appends may log carries."""
    warn_if_open(settings.data_dir)  # before anything is made in it: what the operator left
    if settings.auto_migrate:
        from serving.migrations import upgrade

        # Sealed as `serve` seals it (serving/cli.py), for code that calls create_app directly.
        upgrade(
            settings.resolved_database_url,
            seal_with=settings.signing_key(),
            lock_wait_s=settings.migration_lock_wait_s,
            config=config,
        )
    db_engine = make_engine(settings.resolved_database_url)
    read_engine = make_read_engine(db_engine)
    store = PhotoStore(settings.store_dir)
    store.prepare(any_age=service_start)
    engine, fusion, problems = _load_models(settings)
    import cv2

    # Uploads already run in parallel worker threads (one per core); OpenCV's own threads on
    # top of them only add switching.
    cv2.setNumThreads(1)
    pipeline = PhotoPipeline.from_config(engine, settings.batching)  # type: ignore[arg-type]
    limits = settings.rate_limits
    services = Services(
        settings=settings, db_engine=db_engine, sessions=make_session_factory(db_engine),
        read_engine=read_engine, read_sessions=make_read_session_factory(read_engine),
        store=store, signing_key=settings.signing_key(),
        login_limiter=RateLimiter(limit=limits.login_per_minute, what="sign-in attempts"),
        login_account_limiter=RateLimiter(
            limit=limits.login_per_account, window_s=limits.login_account_window_minutes * 60,
            what="sign-in attempts for this username",
        ),
        upload_limiter=RateLimiter(limit=limits.upload_per_minute, what="uploads"),
        pipeline=pipeline, metrics=Metrics(), fusion_model=fusion, load_problems=problems,
    )  # fmt: skip
    # Audit appends through these sessions anchor the chain's head outside the database.
    audit_anchor.anchor_sessions(services.sessions, settings.resolved_audit_anchor_file, config)
    services.reuse = build_reuse_index(services)
    heatmap_cache.prune_cache(services)  # overlays of family photos that no current key serves
    return services


def close_services(services: Services) -> None:
    """Release what `build_services` opened, for a command that built them (not the app's
    lifespan, which awaits the pipeline in its own loop)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop in this thread: the usual case for a command
        asyncio.run(services.pipeline.aclose())
    else:  # called from inside a loop (a caller's own): asyncio.run needs a thread of its own
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, services.pipeline.aclose()).result()
    services.db_engine.dispose()
    if services.read_engine is not None:
        services.read_engine.dispose()


def create_app(settings: ServingSettings | None = None, config: Path | None = None) -> FastAPI:
    """The app of `settings` (default: the configured ones); `config`: the --config they were
    read from (None: none given), as `build_services` takes it."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings, service_start=True, config=config)
        app.state.services = services
        logger.info("service ready (%s)", "; ".join(services.load_problems) or "all models loaded")
        try:
            yield
        finally:
            await services.pipeline.aclose()
            services.db_engine.dispose()
            if services.read_engine is not None:
                services.read_engine.dispose()

    app = PrivateApp(
        title="Shanyraq",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_reason_limits(app, settings.reason_chars)  # its OpenAPI says this service's limits
    for module in (auth, users, families, photos, photo_room, assessments, reports, system):
        app.include_router(module.router)
    mount_web(app)  # web pages under /ui (serving/web); after the API's routes and handlers

    # Refuses bodies over the limits before the app reads them; inside the metrics middleware
    # (added after it), which so counts its 413s, and inside PrivateApp's PrivateByDefault, so
    # its 413 is private too.
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        max_json_bytes=settings.max_json_body_bytes,
    )

    @app.middleware("http")
    async def _measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()

        def measure(status: int) -> None:
            route = getattr(request.scope.get("route"), "path", None) or (
                STATIC_ROUTE if request.url.path.startswith(f"{STATIC_URL}/") else "unmatched"
            )  # a mount (the pages' static files) sets no route
            services: Services | None = getattr(request.app.state, "services", None)
            if services is not None:
                services.metrics.requests.labels(
                    route, method_label(request.method), str(status)
                ).inc()
                services.metrics.latency.labels(route).observe(time.perf_counter() - start)

        try:
            response = await call_next(request)
        except Exception:
            # Unhandled: ServerErrorMiddleware, outside this one, answers it with the 500 (those
            # are the requests an operator most needs to see). A cancellation is no answer.
            measure(500)
            raise
        measure(response.status_code)
        return response

    return app
