"""Helpers of the body-limit tests: an inner ASGI app that records the body it read, and one
request run through serving.api.body_limit.BodySizeLimit without a server."""

from __future__ import annotations

from typing import Any

from starlette.types import Message

from serving.api.body_limit import BodySizeLimit
from tests.aio import run


class Recorder:
    """An inner ASGI app that reads the whole body and answers 200: what it saw is kept."""

    def __init__(self) -> None:
        self.called = False
        self.body = b""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.called = True
        while True:
            message = await receive()
            self.body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"stored"})


def run_limit(
    limit: BodySizeLimit, headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[list[Message], int]:
    """Run `limit` on one request of `chunks`: the messages it sent, and how often it read."""
    pending: list[Message] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    read: list[int] = []
    sent: list[Message] = []

    async def receive() -> Message:
        read.append(1)
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": headers}
    run(limit(scope, receive, send))
    return sent, len(read)
