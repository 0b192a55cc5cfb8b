"""ASGI middleware refusing request bodies over a size limit with 413, before any decoding.

A declared Content-Length over the limit is refused at once, without reading the body; a
chunked body is counted as it streams and refused as soon as it passes the limit.

A JSON body has a limit of its own, far below the one for photos: FastAPI parses it whole, in
the event loop and before the route checks who sent it, so 32 MiB of small objects held every
request for seconds, from anyone. The records, decisions and passwords the API takes as JSON
are a few kB; a body is JSON where FastAPI would parse it so (its Content-Type, tested as
FastAPI tests it).

The refusal is the API's JSON error. A part of the service that answers in its own form (the
web pages: an HTML page in the reader's language) registers its answer on the app with
`answer_refusals`; this middleware runs before the app, so it looks it up on `scope["app"]`.

A refusal of a signed-in sender (a valid bearer token, or what the registered `reader` finds,
e.g. the pages' session cookie) is audited as `request_too_large`: the path, the limit, the
declared length and what was read. One without a valid sign-in is not: like the refusals of a
missing token or a form from another site, anyone could fill the log with them; the metrics
count them (status 413). The sender is looked up once: a registered answer is given the one
the audit found (the pages show the signed-in reader's menu with it).

An over-limit Content-Length header is enough to be refused, so a signed-in sender could
otherwise write an entry per request at will. Each audited refusal counts against the sender's
upload limit (`Services.upload_limiter`, the upload route's key), on every path: nearly every
body this large is a photo, and the flood works on any path (the JSON limit is on all of them).
Past the limit one notice a window is audited (with the limit's details), the rest only counted
in the metrics; the answer stays 413, since the body is too large however long the client
waits (a 429 would invite sending it again). So past the limit the sender's uploads are
answered 429 too, as after the upload route's own refusals.
"""

from __future__ import annotations

import contextlib
import email.message
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving import audit
from serving.api.deps import CurrentUser, get_current_user
from serving.db.session import session_scope
from serving.ratelimit import audit_refusal, count_refusal, user_key
from serving.state import Services
from shanyraq.errors import ShanyraqError

logger = logging.getLogger(__name__)

# app.state attribute: [(matches(path), answer(max_bytes, sender) -> ASGI app, reader)], first
# match answers.
_ANSWERS = "body_refusal_answers"

# The answer to a refusal, given the limit passed and the signed-in sender (None: nobody).
RefusalAnswer = Callable[[int, CurrentUser | None], ASGIApp]
# Who sent a request, if signed in (None otherwise); never raises for a bad sign-in.
Reader = Callable[[Request], CurrentUser | None]

PATH_MAX_CHARS = 256  # of the path an audited refusal keeps


def answer_refusals(
    app: Starlette,
    *,
    matches: Callable[[str], bool],
    answer: RefusalAnswer,
    reader: Reader | None = None,
) -> None:
    """Refuse bodies over the limit on the paths `matches` accepts with `answer(max_bytes,
    sender)`; `reader` finds their signed-in sender, for the audit and the answer (default:
    the bearer token's)."""
    answers = getattr(app.state, _ANSWERS, [])
    setattr(app.state, _ANSWERS, [*answers, (matches, answer, reader or bearer_reader)])


def bearer_reader(request: Request) -> CurrentUser | None:
    """The account of the request's valid bearer token; None without one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return get_current_user(request.app.state.services, token.strip())
    except ShanyraqError:  # expired, revoked, forged: nobody signed in
        return None


@dataclass(frozen=True)
class Refusal:
    """What a refused request was: the limit it passed, the Content-Length it declared (None:
    none, or not a number: `declared_text`) and the bytes read before it was refused."""

    limit_bytes: int
    json_body: bool
    declared_bytes: int | None
    declared_text: str | None
    received_bytes: int

    def audit_details(self, scope: Scope) -> dict[str, Any]:
        details: dict[str, Any] = {
            "method": audit.printable(scope.get("method", ""), 16),
            "path": audit.printable(scope["path"], PATH_MAX_CHARS),
            "limit_bytes": self.limit_bytes,
            "json_body": self.json_body,
            "declared_bytes": self.declared_bytes,
            "received_bytes": self.received_bytes,
        }
        if self.declared_text is not None:
            details["declared_text"] = audit.printable(self.declared_text, 32)
        return details


def _services(scope: Scope) -> Services | None:
    """The app's services; None before its lifespan has made them (or outside an app)."""
    services: Services | None = getattr(getattr(scope.get("app"), "state", None), "services", None)
    return services


def record_refusal(request: Request, refusal: Refusal, reader: Reader) -> CurrentUser | None:
    """Audit `refusal` (`request_too_large`, committed on its own) if `reader` finds its
    sender signed in and within their upload limit, which it counts against; past the limit
    only the window's notice is audited. The sender found (None: nobody, or the look-up
    failed). A failed write is logged, not raised: the 413 stands."""
    services = _services(request.scope)
    if services is None:
        return None
    details = refusal.audit_details(request.scope)
    actor = None
    try:
        actor = reader(request)
        if actor is None:
            return None
        username, limiter = actor.username, services.upload_limiter

        def write(notice: dict[str, Any]) -> bool:
            details.update(notice)
            with session_scope(services.sessions) as session:
                audit.append(
                    session, services.signing_key, actor=username,
                    action="request_too_large", details=details,
                )  # fmt: skip
            return True

        # Counted as the upload route counts; a write that raises is not the window's notice.
        audit_refusal(limiter, count_refusal(limiter, user_key(actor.id)), write)
    except Exception:  # the refusal stands whatever the database says; the log keeps the note
        logger.exception("request_too_large not audited: %s", details)
    return actor


class _TooLarge(Exception):
    pass


def _is_json(scope: Scope) -> bool:
    """Whether FastAPI reads this request's body as JSON: an application/json or
    application/*+json Content-Type (the first one given, as Starlette reads headers)."""
    given = next((value for name, value in scope["headers"] if name == b"content-type"), None)
    if given is None:
        return False
    content_type = email.message.Message()
    content_type["content-type"] = given.decode("latin-1")
    subtype = content_type.get_content_subtype()
    return content_type.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int, max_json_bytes: int) -> None:
        """`max_json_bytes`: configs/serving.yaml max_json_body_bytes (1 MiB shipped: hundreds
        of times the largest record or decision; Starlette bounds a form field by the same)."""
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_bytes = max_json_bytes

    def _limit(self, scope: Scope) -> int:
        return min(self.max_bytes, self.max_json_bytes) if _is_json(scope) else self.max_bytes

    def _body(self, scope: Scope) -> bytes:
        if _is_json(scope):
            why = (
                f"the JSON body is larger than {self._limit(scope)} bytes; a record, a "
                "decision or a password change is a few kB: send only its fields"
            )
        else:
            why = (
                f"the request is larger than {self.max_bytes} bytes; send a smaller photo "
                "(one photo per request)"
            )
        return json.dumps({"code": "body_too_large", "message": why}).encode()

    def _registered(self, scope: Scope) -> tuple[RefusalAnswer | None, Reader]:
        """The answer and reader registered for this path (see `answer_refusals`), if any."""
        state = getattr(scope.get("app"), "state", None)
        for matches, answer, reader in getattr(state, _ANSWERS, []):
            if matches(scope["path"]):
                return answer, reader
        return None, bearer_reader

    def _refusal(self, scope: Scope, received_bytes: int) -> Refusal:
        declared = dict(scope["headers"]).get(b"content-length")
        declared_bytes: int | None = None
        declared_text: str | None = None
        if declared is not None and declared.isdigit():
            declared_bytes = int(declared)
        elif declared is not None:
            declared_text = declared.decode("latin-1")
        return Refusal(
            limit_bytes=self._limit(scope),
            json_body=_is_json(scope),
            declared_bytes=declared_bytes,
            declared_text=declared_text,
            received_bytes=received_bytes,
        )

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, *, received_bytes: int = 0
    ) -> None:
        answer_for, reader = self._registered(scope)
        refusal = self._refusal(scope, received_bytes)
        sender = None
        if _services(scope) is not None:  # audited before the answer, as the routes' refusals
            sender = await run_in_threadpool(record_refusal, Request(scope), refusal, reader)
        if answer_for is not None:
            answer = answer_for(refusal.limit_bytes, sender)

            async def closing(message: Message) -> None:
                if message["type"] == "http.response.start":  # the body was not read
                    message = {
                        **message,
                        "headers": [*message["headers"], (b"connection", b"close")],
                    }
                await send(message)

            await answer(scope, receive, closing)
            return
        body = self._body(scope)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self._limit(scope)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            await self._refuse(scope, receive, send)
            return
        state: dict[str, Any] = {"received": 0, "exceeded": False, "started": False}

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > max_bytes:
                    state["exceeded"] = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            if state["exceeded"]:
                return  # the app's answer to a cut-off body is replaced by the 413
            state["started"] = True
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if state["exceeded"] and not state["started"]:
            await self._refuse(scope, receive, send, received_bytes=state["received"])
