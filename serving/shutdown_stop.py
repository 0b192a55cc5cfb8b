"""A stop's grace for uploads waiting on the photo model: answered 503, not cancelled.

On a stop (SIGTERM, Ctrl-C) uvicorn waits `shutdown_requests_s` for the requests in flight,
then cancels them, and tells the app nothing until then: an upload still waiting on a hung
model got uvicorn's bare 500 and a CancelledError traceback in the log. `StopSignals` tells
the app as the stop begins; the pipeline's `StopDeadline` then lets go the uploads still
waiting on the model a little before uvicorn would cancel them, with the service's own
"shutting down" 503 and its Retry-After, and at once any that comes to wait after that (until
then uploads are scored as usual). The model calls themselves run on (a hung call cannot be
stopped); the pipeline's `aclose` waits for them or abandons them as before. An upload let go
stores nothing: scoring comes before the store.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from serving.core.config import ServingSettings

logger = logging.getLogger(__name__)


class StopDeadline:
    """The uploads waiting on the photo model (`bounded`), each let go at its own timeout and,
    once a stop has begun (`begin`), at the stop's deadline with `refusal()`. Used from the
    event loop's thread only."""

    def __init__(self, *, refusal: Callable[[], Exception]) -> None:
        self.refusal = refusal  # what an upload let go by the stop raises
        self.deadline: float | None = None  # the running loop's clock (loop.time())
        self._waits: set[asyncio.Timeout] = set()
        self._began = 0.0

    def begin(self, deadline: float) -> None:
        """A stop has begun: the uploads waiting at `deadline` (the running loop's clock) are
        let go then, and an upload that comes to wait later is refused at once."""
        if self.deadline is not None and self.deadline <= deadline:
            return
        loop = asyncio.get_running_loop()
        self.deadline, self._began = deadline, loop.time()
        for wait in self._waits:
            when = wait.when()
            if not wait.expired() and (when is None or when > deadline):
                wait.reschedule(deadline)
        loop.call_at(deadline, self._report)

    def passed(self) -> bool:
        """Whether a stop's deadline has come: a new wait is refused at once."""
        return self.deadline is not None and asyncio.get_running_loop().time() >= self.deadline

    @asynccontextmanager
    async def bounded(self, timeout_s: float | None) -> AsyncIterator[None]:
        """Its block, let go with TimeoutError after `timeout_s` (None: never), or with
        `refusal()` at the stop's deadline; refused at once once that has come."""
        if self.passed():
            raise self.refusal()
        loop = asyncio.get_running_loop()
        when = None if timeout_s is None else loop.time() + timeout_s
        if self.deadline is not None and (when is None or self.deadline < when):
            when = self.deadline
        wait = asyncio.timeout_at(when)
        try:
            async with wait:
                self._waits.add(wait)
                try:
                    yield
                finally:
                    self._waits.discard(wait)
        except TimeoutError:
            if self.deadline is not None and wait.when() == self.deadline:
                raise self.refusal() from None
            raise

    def _report(self) -> None:
        waiting = sum(1 for wait in self._waits if wait.when() == self.deadline)
        if waiting:
            logger.warning(
                "the stop let go %d upload(s) still waiting on the photo model %.1f s after "
                "it began, with 503 (shutting down; nothing stored), before the server would "
                "cancel them (shutdown_requests_s); the model calls run on",
                waiting,
                asyncio.get_running_loop().time() - self._began,
            )


def stop_deadline(grace_s: float, *, margin_s: float, now: float) -> float:
    """When a stop signalled at `now` lets go the uploads waiting on the model: `margin_s`
    (serving.yaml's shutdown_answer_margin_s: time for their 503s to be sent, and for an upload
    scored just before to store its photo) before uvicorn cancels the requests in flight, or
    half-way there if that is shorter. uvicorn cancels them `grace_s` after its shutdown
    starts, which is up to 0.1 s after the signal (it looks for a stop every 0.1 s), then 0.1 s
    more; this counts from the signal, so never later."""
    return now + grace_s - min(margin_s, grace_s / 2)


class StopSignals:
    """ASGI wrapper of the app `uvicorn.run` serves: tells `on_stop(deadline)` in the event
    loop as a stop (SIGTERM, Ctrl-C) begins, the deadline `stop_deadline` of `grace_s` (the
    server's `timeout_graceful_shutdown`) and `answer_margin_s` from the signal.

    uvicorn installs its own handlers for these signals before the app starts and restores the
    earlier ones once it has stopped; as the app starts (its lifespan), each is chained with one
    that calls uvicorn's first (the stop, or on a second Ctrl-C the forced exit, as before),
    then schedules `on_stop` with `call_soon_threadsafe` (a signal handler may interrupt the
    loop anywhere). Nothing is chained outside the main thread: a server run in a thread takes
    no signals (tests/web/live.py)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        grace_s: float,
        answer_margin_s: float,
        on_stop: Callable[[float], None],
    ):
        self.app = app
        self.grace_s = grace_s
        self.answer_margin_s = answer_margin_s
        self.on_stop = on_stop

    @classmethod
    def from_settings(
        cls, app: ASGIApp, settings: ServingSettings, *, on_stop: Callable[[float], None]
    ) -> StopSignals:
        """For a server whose stop waits the settings' `shutdown_requests_s`, letting the
        uploads waiting on the model go `shutdown_answer_margin_s` before its end."""
        return cls(
            app,
            grace_s=settings.shutdown_requests_s,
            answer_margin_s=settings.shutdown_answer_margin_s,
            on_stop=on_stop,
        )

    def deadline(self, *, now: float) -> float:
        """The deadline of a stop signalled at `now` (the event loop's clock)."""
        return stop_deadline(self.grace_s, margin_s=self.answer_margin_s, now=now)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for stop in (signal.SIGINT, signal.SIGTERM):  # uvicorn's HANDLED_SIGNALS on POSIX
                handler = signal.getsignal(stop)
                if callable(handler):
                    signal.signal(stop, partial(self._signalled, loop, handler))
        await self.app(scope, receive, send)

    def _signalled(
        self,
        loop: asyncio.AbstractEventLoop,
        handler: Callable[[int, FrameType | None], Any],
        number: int,
        frame: FrameType | None,
    ) -> None:
        handler(number, frame)
        loop.call_soon_threadsafe(self._stop_begins, loop)

    def _stop_begins(self, loop: asyncio.AbstractEventLoop) -> None:
        self.on_stop(self.deadline(now=loop.time()))
