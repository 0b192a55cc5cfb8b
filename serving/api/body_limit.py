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
"""

from __future__ import annotations

import contextlib
import email.message
import json
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# app.state attribute: [(matches(path), answer(max_bytes) -> ASGI app)], first match answers.
_ANSWERS = "body_refusal_answers"

RefusalAnswer = Callable[[int], ASGIApp]


def answer_refusals(
    app: Starlette, *, matches: Callable[[str], bool], answer: RefusalAnswer
) -> None:
    """Refuse bodies over the limit on the paths `matches` accepts with `answer(max_bytes)`."""
    answers = getattr(app.state, _ANSWERS, [])
    setattr(app.state, _ANSWERS, [*answers, (matches, answer)])


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

    def _answer(self, scope: Scope) -> ASGIApp | None:
        """The answer registered for this path (see `answer_refusals`), if any."""
        state = getattr(scope.get("app"), "state", None)
        for matches, answer in getattr(state, _ANSWERS, []):
            if matches(scope["path"]):
                return answer(self._limit(scope))
        return None

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self._answer(scope)
        if answer is not None:

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
            await self._refuse(scope, receive, send)
